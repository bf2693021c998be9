"""The product catalog: vocabulary, items, the default Fashion-MNIST build, the Chroma index, outfits."""
