"""DVC stages of the edge-deployment pipeline: data, train, qat, export, evaluate, bundle."""
