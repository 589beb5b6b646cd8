#!/usr/bin/python3
"""A MAT-file laid out like the thesis's reference data, under other variable names, and the spectral efficiency
that the reference OMP code (Yu et al., "Alternating minimization algorithms for hybrid precoding in millimeter wave
MIMO systems", IEEE JSTSP 2016: OMP.m and main.m, El Ayach et al.'s Algorithm 1 for both ends, the combiner pursuing
Wopt over Ar) reaches on it, written out here in NumPy from that code's published algorithm.

Run with Debian's system python (apt-get install python3-scipy):  /usr/bin/python3 gen_beamforming_fixtures.py
Writes beamforming/thesis_v6_single.mat (scipy savemat, format 5 = MATLAB -v6, single precision, variables
Hs [Nr x Nt x N], Fopt [Nt x Ns x N], Wopt [Nr x Ns x N], At [Nt x L x N], Ar [Nr x L x N]) and
beamforming/expected.json (SNRs in dB, mean SE of the optimum and of reference OMP per SNR).
"""
import json, os
import numpy as np
import scipy.io as sio

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "beamforming")
os.makedirs(here, exist_ok=True)
rng = np.random.default_rng(7)

Nt_h, Nt_v, Nr_h, Nr_v = 4, 4, 3, 3            # 16 transmit, 9 receive antennas (UPAs, half-wavelength spacing)
Nt, Nr, Ncl, Nray, Ns, NRF, N = Nt_h * Nt_v, Nr_h * Nr_v, 3, 4, 2, 3, 12
L = Ncl * Nray

def upa(h, v, az, el):
    iy, iz = np.meshgrid(np.arange(h), np.arange(v), indexing="ij")
    phase = np.pi * (iy * np.sin(az) * np.sin(el) + iz * np.cos(el))
    return (np.exp(1j * phase).reshape(-1) / np.sqrt(h * v))

H = np.zeros((Nr, Nt, N), complex); At = np.zeros((Nt, L, N), complex); Ar = np.zeros((Nr, L, N), complex)
for n in range(N):
    l = 0
    for c in range(Ncl):
        az_t, el_t, az_r, el_r = rng.uniform(-np.pi, np.pi), rng.uniform(0, np.pi), rng.uniform(-np.pi, np.pi), rng.uniform(0, np.pi)
        for r in range(Nray):
            at = upa(Nt_h, Nt_v, az_t + rng.laplace(0, 0.1), el_t + rng.laplace(0, 0.1))
            ar = upa(Nr_h, Nr_v, az_r + rng.laplace(0, 0.1), el_r + rng.laplace(0, 0.1))
            alpha = (rng.normal() + 1j * rng.normal()) / np.sqrt(2)
            H[:, :, n] += np.sqrt(Nt * Nr / L) * alpha * np.outer(ar, at.conj())
            At[:, l, n], Ar[:, l, n] = at, ar
            l += 1
Fopt = np.zeros((Nt, Ns, N), complex); Wopt = np.zeros((Nr, Ns, N), complex)
for n in range(N):
    U, S, Vh = np.linalg.svd(H[:, :, n])
    Fopt[:, :, n], Wopt[:, :, n] = Vh.conj().T[:, :Ns], U[:, :Ns]

# Single precision on disk, as the thesis's files; the reference numbers use exactly the stored values.
single = {k: v.astype(np.complex64) for k, v in dict(Hs=H, Fopt=Fopt, Wopt=Wopt, At=At, Ar=Ar).items()}
sio.savemat(os.path.join(here, "thesis_v6_single.mat"), single, format="5", do_compression=False)
H, Fopt, Wopt, At, Ar = (single[k].astype(complex) for k in ("Hs", "Fopt", "Wopt", "At", "Ar"))

def omp(target, nrf, dictionary):
    """OMP.m: greedily pick the dictionary column with the largest correlation energy with the residual,
    re-solve the baseband matrix by least squares (pinv), renormalize the residual."""
    chosen, res = [], target
    for _ in range(nrf):
        pu = dictionary.conj().T @ res
        chosen.append(int(np.argmax(np.sum(np.abs(pu) ** 2, axis=1))))   # first maximum, as MATLAB's max
        rf = dictionary[:, chosen]
        bb = np.linalg.pinv(rf) @ target
        diff = target - rf @ bb
        res = diff / np.linalg.norm(diff, "fro")
    return rf, bb

def se(h, f, w, snr):
    m = np.linalg.pinv(w) @ h @ f @ f.conj().T @ h.conj().T @ w
    return float(np.real(np.log2(np.linalg.det(np.eye(Ns) + snr / Ns * m))))

snr_db = list(range(-35, 10, 5))
r_omp = np.zeros((len(snr_db), N)); r_opt = np.zeros((len(snr_db), N))
for n in range(N):
    frf, fbb = omp(Fopt[:, :, n], NRF, At[:, :, n])
    fbb = np.sqrt(Ns) * fbb / np.linalg.norm(frf @ fbb, "fro")
    wrf, wbb = omp(Wopt[:, :, n], NRF, Ar[:, :, n])
    for s, d in enumerate(snr_db):
        snr = 10 ** (d / 10)
        r_omp[s, n] = se(H[:, :, n], frf @ fbb, wrf @ wbb, snr)
        r_opt[s, n] = se(H[:, :, n], Fopt[:, :, n], Wopt[:, :, n], snr)
json.dump(dict(nrf=NRF, ns=Ns, channels=N, snr_db=snr_db, omp_reference=r_omp.mean(1).tolist(), optimal=r_opt.mean(1).tolist()),
          open(os.path.join(here, "expected.json"), "w"), indent=1)
print("OMP (reference)", np.round(r_omp.mean(1), 4)); print("optimal        ", np.round(r_opt.mean(1), 4))
