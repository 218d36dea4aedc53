"""ResNet Desktop: classify photos with ResNet/DenseNet models and fine-tune them."""

__version__ = "0.1.0"
