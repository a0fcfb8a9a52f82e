"""The project model: facts that rules need from more than one file."""
