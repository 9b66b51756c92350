"""matterport's batch_slice: run a per-image function over a batch and stack the results."""

from keras import ops


def batch_slice(inputs, graph_fn, batch_size, names=None):
    """graph_fn(*[x[i] for x in inputs]) for each i < batch_size, each output stacked over the batch.

    inputs: a tensor or a list of tensors with a batch axis; graph_fn returns a tensor or a list of them.
    Returns one tensor, or a list of tensors when graph_fn returns several. `names` is accepted for
    matterport's signature (Keras 3 ops take no names).
    """
    inputs = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    per_image = []
    for i in range(batch_size):
        result = graph_fn(*[x[i] for x in inputs])
        per_image.append(list(result) if isinstance(result, (list, tuple)) else [result])
    stacked = [ops.stack(column, axis=0) for column in zip(*per_image)]
    return stacked[0] if len(stacked) == 1 else stacked
