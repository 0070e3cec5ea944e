"""Input pipelines without TensorFlow: CSV, numpy / pandas, TFRecord of ``tf.train.Example``."""
