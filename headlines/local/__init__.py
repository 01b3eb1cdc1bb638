"""Local mode: AWS's own container code run here (the training toolkit, the MXNet serving toolkit
behind Multi Model Server) and the stand-ins for what has no package (the SageMaker runtime API,
the API Gateway front, BlazingText's word vectors), plus the data sources they read."""
