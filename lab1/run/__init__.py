"""One run of the lab: the data (find, download or fall back, decode once), the model, the one
training and inference step and its Execution record (step), training (train), verified
checkpoints, the dataflow graph and TensorBoard logs (graph, tblog), the typed, versioned
manifest (manifest) and reading a finished run back through its contract (reader).

May import: lab1, lab1.host.
"""
