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
CLASS_NAMES_KO = (
    "티셔츠", "바지", "스웨터", "드레스", "코트",
    "샌달", "셔츠", "스니커즈", "가방", "앵클 부츠",
)
"""The same classes in Korean, label order 0..9, as the textbook names them
(Park Haesun, 혼자 공부하는 머신러닝+딥러닝, lesson 8-2: ``classes = [...]``;
github.com/rickiepark/hg-mldl2, 08-2.ipynb, MIT License)."""
CLASS_NAMES_BY_LANGUAGE = {"en": CLASS_NAMES, "ko": CLASS_NAMES_KO}
"""``--class-names`` value -> class names in label order."""
