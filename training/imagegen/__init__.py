"""Training of the Fashion-MNIST diffusion generator (``fashionm3 train generator``)."""
