"""Headline classifiers as MXNet Gluon HybridBlocks (exportable; runs on Python 3.8).

- ``seed``: the original workshop's network, kept as a named baseline: frozen word vectors,
  Conv1D(128, 3) -> MaxPool(5) -> Dense(128) -> output.
- ``textcnn`` (default): word vectors initialised from the embeddings step and fine-tuned,
  parallel convolutions of several widths with global max pooling, plus the masked mean of
  the word vectors (a bag-of-words view that helps short headlines), dropout, output layer.
"""
from typing import Sequence

from mxnet.gluon import HybridBlock, nn


class SeedCNN(HybridBlock):
    def __init__(self, vocab_size: int, embed_dim: int, n_classes: int, **kwargs):
        super(SeedCNN, self).__init__(**kwargs)
        with self.name_scope():
            self.embedding = nn.Embedding(vocab_size, embed_dim)
            self.conv = nn.Conv1D(128, 3, activation="relu")
            self.pool = nn.MaxPool1D(5)
            self.hidden = nn.Dense(128, activation="relu")
            self.output = nn.Dense(n_classes)

    def hybrid_forward(self, F, tokens):
        words = F.transpose(self.embedding(tokens), axes=(0, 2, 1))  # (batch, dim, time)
        return self.output(self.hidden(self.pool(self.conv(words))))


class TextCNN(HybridBlock):
    def __init__(self, vocab_size: int, embed_dim: int, n_classes: int,
                 kernel_sizes: Sequence[int] = (1, 2, 3, 4), num_filters: int = 128,
                 dropout: float = 0.5, embed_dropout: float = 0.2, **kwargs):
        super(TextCNN, self).__init__(**kwargs)
        with self.name_scope():
            self.embedding = nn.Embedding(vocab_size, embed_dim)
            self.embed_dropout = nn.Dropout(embed_dropout)
            self.convs = nn.HybridSequential()
            for width in kernel_sizes:
                self.convs.add(nn.Conv1D(num_filters, width, activation="relu"))
            self.pool = nn.GlobalMaxPool1D()
            self.dropout = nn.Dropout(dropout)
            self.output = nn.Dense(n_classes)

    def hybrid_forward(self, F, tokens):
        embedded = self.embed_dropout(self.embedding(tokens))  # (batch, time, dim)
        mask = F.expand_dims(tokens > 0, axis=2)  # padding has index 0
        mean = F.broadcast_div(F.sum(F.broadcast_mul(embedded, mask), axis=1),
                               F.sum(mask, axis=1) + 1e-6)
        words = F.transpose(embedded, axes=(0, 2, 1))  # (batch, dim, time)
        pooled = [F.flatten(self.pool(conv(words))) for conv in self.convs]
        features = F.concat(*(pooled + [mean]), dim=1)
        return self.output(self.dropout(features))


def build_model(name: str, vocab_size: int, embed_dim: int, n_classes: int,
                kernel_sizes: Sequence[int], num_filters: int, dropout: float) -> HybridBlock:
    if name == "seed":
        return SeedCNN(vocab_size, embed_dim, n_classes, prefix="seed_")
    if name == "textcnn":
        return TextCNN(vocab_size, embed_dim, n_classes, kernel_sizes=kernel_sizes,
                       num_filters=num_filters, dropout=dropout, prefix="textcnn_")
    raise ValueError("unknown model '{}': use 'textcnn' or 'seed'".format(name))
