"""Training of the image encoder and its category classifier (``fashionm3 train image-encoder|image-classifier``)."""
