import os

os.environ.setdefault("T2I_DEVICE", "cpu")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
