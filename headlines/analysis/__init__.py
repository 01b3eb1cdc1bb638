"""A trained model looked at: re-scoring it on labelled headlines (evaluate) and the HTML report."""
