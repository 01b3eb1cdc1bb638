"""The SageMaker MXNet serving image's entry point, run in ``.venv-sagemaker`` (Python 3.8).

``headlines serve`` starts this file with that environment's interpreter; it runs
``sagemaker_mxnet_serving_container.serving.main()`` exactly as the ``mxnet-inference:1.9.0``
image does: AWS's toolkit writes the Multi Model Server configuration from the ``SAGEMAKER_*``
variables (``SAGEMAKER_BIND_TO_PORT``, ``SAGEMAKER_MODEL_SERVER_WORKERS``, ``SAGEMAKER_PROGRAM``,
...), starts MMS (Java frontend + one Python worker per ``SAGEMAKER_MODEL_SERVER_WORKERS``, each
running the toolkit's HandlerService -> Transformer -> ``code/inference.py``) and waits on it.

An image runs one model server per container; this machine may run several at once (tests,
two ``headlines serve``), so three things are adapted, none of them on the request path:

- the MMS configuration goes to ``$SAGEMAKER_BASE_DIR/etc/`` instead of the shared ``/etc``;
- the toolkit looks up "the" MMS process among all processes and refuses when there are
  several: here it picks the one started with this server's configuration file;
- the Java frontend's pid goes to ``$SAGEMAKER_BASE_DIR/model-server.pid`` (MMS starts it
  detached), and when this process's standard input closes (its parent went away, even by
  ``kill -9``) the frontend is stopped, so that no Java process outlives ``headlines serve``.

Python 3.8 (the image's); imports only what the image has.
"""
import os
import signal
import sys
import threading
import time


def _stop(pid):
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        return
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def main():
    import psutil
    from sagemaker_inference import model_server

    base_dir = os.environ["SAGEMAKER_BASE_DIR"]
    config_file = os.path.join(base_dir, "etc", "sagemaker-mms.properties")
    pid_file = os.path.join(base_dir, "model-server.pid")
    os.makedirs(os.path.dirname(config_file), exist_ok=True)
    model_server.MMS_CONFIG_FILE = config_file
    found = {}

    def this_servers_process():
        for process in psutil.process_iter():
            try:
                if process.status() == psutil.STATUS_ZOMBIE:
                    continue
                command = process.cmdline()
            except psutil.Error:
                continue
            if model_server.MMS_NAMESPACE in command and config_file in command:
                with open(pid_file + ".partial", "w") as handle:
                    handle.write(str(process.pid))
                os.replace(pid_file + ".partial", pid_file)
                found["pid"] = process.pid
                return process
        raise Exception("mms model server was unsuccessfully started")

    model_server._retrieve_mms_server_process = this_servers_process

    def exit_with_parent():
        while os.read(0, 1024):  # os.read: no buffered-reader lock held at interpreter exit
            pass
        if "pid" in found:
            _stop(found["pid"])
        # The workers (MMS's Python processes) are in this process group, as is this process.
        os.killpg(os.getpgid(0), signal.SIGKILL)

    threading.Thread(target=exit_with_parent, name="parent-watch", daemon=True).start()

    from sagemaker_mxnet_serving_container import serving

    serving.main()  # returns when the Java frontend exited
    sys.stdout.flush()
    # No worker outlives its frontend (they share this process group); this ends the watcher too.
    os.killpg(os.getpgid(0), signal.SIGKILL)


if __name__ == "__main__":
    main()
