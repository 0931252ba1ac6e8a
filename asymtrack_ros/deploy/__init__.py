"""From weights to deployable graphs: ONNX export and the int8 search graph."""
