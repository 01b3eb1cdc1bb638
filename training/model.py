"""Headline classifiers as MXNet Gluon HybridBlocks (exportable; runs on Python 3.8).

- ``seed``: the original workshop's network, kept as a named baseline: frozen word vectors,
  Conv1D(128, 3) -> MaxPool(5) -> Dense(128) -> output.
- ``textcnn`` (default): word vectors initialised from the embeddings step and fine-tuned,
  parallel convolutions of several widths with global max pooling, plus the masked mean of
  the word vectors (a bag-of-words view that helps short headlines), and, when the
  vocabulary hashes n-grams, the masked mean of hashed word / word-bigram / character
  n-gram embeddings (a fastText-style branch: it catches names and word pieces that the
  word vectors do not know); dropout, output layer.
- ``linear``: logistic regression on the TF-IDF vector of the hashed n-grams (what the
  TF-IDF peers do, inside the network); it errs on other headlines than the CNN does.
- ``Ensemble``: several networks in one exported block; its class probabilities are the
  weighted mean of theirs.

Every network takes one input of ``Vocabulary.width`` numbers per headline: ``max_len`` word
indices, then (with n-gram hashing) ``max_ngrams`` bucket ids; index 0 is padding in both.
For training, a member may instead take two inputs, the word indices and the n-gram ids, each
cut to what the batch needs (batches.py): the results are the same, since every network is
invariant to trailing padding.
"""
from typing import Optional, Sequence

from mxnet.gluon import HybridBlock, nn


class SeedCNN(HybridBlock):
    def __init__(self, vocab_size: int, embed_dim: int, n_classes: int, max_len: int, **kwargs):
        super(SeedCNN, self).__init__(**kwargs)
        self.max_len = max_len
        with self.name_scope():
            self.embedding = nn.Embedding(vocab_size, embed_dim)
            self.conv = nn.Conv1D(128, 3, activation="relu")
            self.pool = nn.MaxPool1D(5)
            self.hidden = nn.Dense(128, activation="relu")
            self.output = nn.Dense(n_classes)

    def hybrid_forward(self, F, inputs, ngrams=None):
        tokens = F.slice_axis(inputs, axis=1, begin=0, end=self.max_len) if ngrams is None else inputs
        words = F.transpose(self.embedding(tokens), axes=(0, 2, 1))  # (batch, dim, time)
        return self.output(self.hidden(self.pool(self.conv(words))))


def _split(F, inputs, ngrams, max_len: int):
    """(word indices, n-gram ids): from the one exported input, or the two training inputs."""
    if ngrams is not None:
        return inputs, ngrams
    return (F.slice_axis(inputs, axis=1, begin=0, end=max_len),
            F.slice_axis(inputs, axis=1, begin=max_len, end=None))


def _masked_mean(F, embedded, ids):
    """Mean over the non-padding positions of (batch, time, dim) embeddings. A batch_dot
    with the 0/1 mask: MXNet's broadcast_mul + sum over (batch, 640, 32) is 20x slower."""
    mask = F.expand_dims(ids > 0, axis=1)  # (batch, 1, time)
    total = F.flatten(F.batch_dot(mask, embedded))  # (batch, dim)
    return F.broadcast_div(total, F.sum(mask, axis=2) + 1e-6)


class TextCNN(HybridBlock):
    def __init__(self, vocab_size: int, embed_dim: int, n_classes: int, max_len: int,
                 kernel_sizes: Sequence[int] = (1, 2, 3, 4), num_filters: int = 128,
                 dropout: float = 0.5, embed_dropout: float = 0.2,
                 ngram_buckets: int = 0, ngram_dim: int = 0, **kwargs):
        super(TextCNN, self).__init__(**kwargs)
        self.max_len = max_len
        self.kernel_sizes = tuple(kernel_sizes)
        self.use_ngrams = ngram_buckets > 0 and ngram_dim > 0
        with self.name_scope():
            # A dense gradient, though a step reads a few hundred rows: Adam's lazy sparse update
            # was measured 0.006 less accurate (split 42), for little speed.
            self.embedding = nn.Embedding(vocab_size, embed_dim)
            self.embed_dropout = nn.Dropout(embed_dropout)
            self.convs = nn.HybridSequential()
            for width in kernel_sizes:
                self.convs.add(nn.Conv1D(num_filters, width, activation="relu"))
            self.pool = nn.GlobalMaxPool1D()
            if self.use_ngrams:
                # Sparse gradients: a step touches only the buckets of its batch.
                self.ngram_embedding = nn.Embedding(ngram_buckets, ngram_dim, sparse_grad=True)
            self.dropout = nn.Dropout(dropout)
            self.output = nn.Dense(n_classes)

    def hybrid_forward(self, F, inputs, ngrams=None):
        tokens, ngrams = _split(F, inputs, ngrams, self.max_len)
        embedded = self.embed_dropout(self.embedding(tokens))  # (batch, time, dim)
        words = F.transpose(embedded, axes=(0, 2, 1))  # (batch, dim, time)
        # The result must not depend on how much padding follows the words (batches are cut to
        # their longest headline): a window that lies wholly on padding gives the same vector
        # for every headline, so each width's pooled maximum also takes that vector for the
        # headlines that have such a window at the full max_len.
        lengths = F.sum(tokens > 0, axis=1, keepdims=True)  # (batch, 1)
        features = []
        for width, conv in zip(self.kernel_sizes, self.convs):
            pooled = F.flatten(self.pool(conv(words)))  # (batch, filters)
            padding = F.transpose(self.embedding(F.zeros((1, width))), axes=(0, 2, 1))  # (1, dim, width)
            on_padding = F.flatten(conv(padding))  # (1, filters), ReLU outputs
            has_window = lengths <= self.max_len - width
            features.append(F.maximum(pooled, F.broadcast_mul(has_window, on_padding)))
        features.append(_masked_mean(F, embedded, tokens))
        if self.use_ngrams:
            features.append(_masked_mean(F, self.ngram_embedding(ngrams), ngrams))
        return self.output(self.dropout(F.concat(*features, dim=1)))


class NgramLogistic(HybridBlock):
    """Logistic regression on the TF-IDF vector of the hashed n-grams, inside the network:
    ``softmax(W x + b)`` with ``x_g = idf_g / ||idf||`` over the headline's distinct buckets.
    ``idf`` is a constant (set from the training side, 0 for padding); ``W`` starts at 0 as
    a linear model should (buckets never seen in training keep no weight)."""

    def __init__(self, buckets: int, n_classes: int, max_len: int, **kwargs):
        super(NgramLogistic, self).__init__(**kwargs)
        self.max_len = max_len
        with self.name_scope():
            self.weight = nn.Embedding(buckets, n_classes, weight_initializer="zeros", sparse_grad=True,
                                       prefix="ngram_")
            self.idf = nn.Embedding(buckets, 1, weight_initializer="zeros", prefix="idf_")
            self.idf.weight.grad_req = "null"
            self.bias = self.params.get("bias", shape=(n_classes,), init="zeros")

    def hybrid_forward(self, F, inputs, ngrams=None, bias=None):
        _, ngrams = _split(F, inputs, ngrams, self.max_len)
        idf = self.idf(ngrams)  # (batch, n, 1); the padding bucket's idf is 0
        norm = F.sqrt(F.sum(F.square(idf), axis=1)) + 1e-6  # (batch, 1)
        scores = F.flatten(F.batch_dot(idf, self.weight(ngrams), transpose_a=True))  # (batch, classes)
        return F.broadcast_add(F.broadcast_div(scores, norm), bias)


class Ensemble(HybridBlock):
    """Several networks in one exported block. With one member its output as is; otherwise
    the log of the weighted mean of the members' class probabilities, so that a softmax on
    the output (what inference does) gives exactly that mean."""

    def __init__(self, members: Sequence[HybridBlock], weights: Optional[Sequence[float]] = None, **kwargs):
        super(Ensemble, self).__init__(**kwargs)
        self.members = list(members)
        weights = list(weights) if weights is not None else [1.0] * len(self.members)
        if len(weights) != len(self.members) or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError("one non-negative weight per member, not all zero")
        self.weights = [float(weight) / sum(weights) for weight in weights]
        for position, member in enumerate(self.members):
            self.register_child(member, "member{}".format(position))

    def hybrid_forward(self, F, inputs):
        if len(self.members) == 1:
            return self.members[0](inputs)
        mixed = F.add_n(*[F.softmax(member(inputs), axis=1) * weight
                          for member, weight in zip(self.members, self.weights)])
        return F.log(mixed + 1e-12)


def build_model(name: str, vocab_size: int, embed_dim: int, n_classes: int, max_len: int,
                kernel_sizes: Sequence[int] = (1, 2, 3, 4), num_filters: int = 128,
                dropout: float = 0.5, embed_dropout: float = 0.2, ngram_buckets: int = 0,
                ngram_dim: int = 0, member: int = 0) -> HybridBlock:
    """One network; ``member`` numbers the networks of an ensemble (parameter name prefix)."""
    if name == "seed":
        return SeedCNN(vocab_size, embed_dim, n_classes, max_len, prefix="seed{}_".format(member))
    if name == "textcnn":
        return TextCNN(vocab_size, embed_dim, n_classes, max_len, kernel_sizes=kernel_sizes,
                       num_filters=num_filters, dropout=dropout, embed_dropout=embed_dropout,
                       ngram_buckets=ngram_buckets, ngram_dim=ngram_dim,
                       prefix="textcnn{}_".format(member))
    if name == "linear":
        if ngram_buckets < 2:
            raise ValueError("the linear member needs hashed n-grams (ngram_buckets)")
        return NgramLogistic(ngram_buckets, n_classes, max_len, prefix="linear{}_".format(member))
    raise ValueError("unknown model '{}': use 'textcnn' or 'seed'".format(name))
