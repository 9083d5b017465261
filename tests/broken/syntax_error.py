INPUT_SIZE = (28, 28)

def build_model(:
    pass
