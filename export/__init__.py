"""Converters from tf_keras models to deployable files, one module per target format."""
