#!/usr/bin/python3
"""MATLAB and NumPy files written by SciPy/NumPy for Ember's MatFile and Npy readers.

Run with Debian's system python (apt-get install python3-scipy):  /usr/bin/python3 gen_io_fixtures.py
Writes io/*.mat, io/*.npy, io/*.npz and io/expected.json next to this file. Values are small integers and halves so
the test can restate them exactly: v[i, j, k] = i + 10 j + 100 k (+ 0.5 i·1j for complex arrays).
"""
import json, os
import numpy as np
import scipy.io as sio

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "io")
os.makedirs(here, exist_ok=True)

def grid(*shape):
    idx = np.indices(shape)
    v = np.zeros(shape)
    for d in range(len(shape)):
        v = v + idx[d] * 10 ** d
    return v

H = (grid(3, 4, 2) + 0.5j * grid(3, 4, 2)[::-1]).astype(np.complex128)   # thesis layout [Nr, Nt, N]
arrays = dict(
    H=H,
    Fs=(grid(4, 2, 2) - 0.5j).astype(np.complex64),
    A=grid(2, 3),
    S=grid(5, 1).astype(np.float32),
    v=np.arange(6.0),
    n=np.array([[1, -2, 3]], dtype=np.int16),
    mask=np.array([[True, False], [False, True]]),
    big=grid(2, 3, 4, 5),
)
for compress in (False, True):
    name = "scipy_v7.mat" if compress else "scipy_v6.mat"
    sio.savemat(os.path.join(here, name), dict(arrays, label="text", cells=np.array([[1.0], "x"], dtype=object)),
                do_compression=compress, oned_as="row")

np.save(os.path.join(here, "complex_fortran.npy"), np.asfortranarray(H))
np.save(os.path.join(here, "big_endian.npy"), grid(3, 2).astype(">f8"))
np.save(os.path.join(here, "int32.npy"), grid(2, 3).astype(np.int32))
np.savez_compressed(os.path.join(here, "arrays.npz"), H=H, A=grid(2, 3), mask=arrays["mask"])

def enc(x):
    x = np.asarray(x)
    if np.iscomplexobj(x):
        return dict(shape=list(x.shape), re=x.real.reshape(-1).tolist(), im=x.imag.reshape(-1).tolist())
    return dict(shape=list(x.shape), re=x.astype(np.float64).reshape(-1).tolist())

with open(os.path.join(here, "expected.json"), "w") as f:
    json.dump({k: enc(v) for k, v in arrays.items()}, f)
print("wrote", sorted(os.listdir(here)))
