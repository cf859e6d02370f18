"""Using a trained model: image preprocessing, prediction, evaluation metrics and explanations."""
