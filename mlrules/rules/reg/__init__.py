"""REG: model logging and the Unity Catalog model registry."""
