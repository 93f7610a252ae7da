"""Facts about Fashion-MNIST used by checks and the loader.

Source: Xiao, Rasul and Vollgraf, "Fashion-MNIST: a Novel Image Dataset for
Benchmarking Machine Learning Algorithms", arXiv:1708.07747 (2017), and the
dataset's README (github.com/zalandoresearch/fashion-mnist).
"""

IMAGE_SHAPE = (28, 28)
"""Pixels of one image, (height, width); uint8 0..255."""
NUM_CLASSES = 10
"""Labels are the integers 0..9."""
TRAIN_SAMPLES = 60_000
TEST_SAMPLES = 10_000
CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
"""Class names in label order 0..9."""
