"""Features: the declarative spec, point-in-time training examples and their time split, and the engines that turn engagement history into vectors."""
