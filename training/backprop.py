"""Error backpropagation for a two-layer network, written exactly as Ahn (2016), section 2, states it.

Equation numbers in comments refer to that paper:
  (1) a_j = sum_{i=0..D} w_ji x_i, x_0 = 1       (2) z_j = h(a_j)
  (3) a_k = sum_{j=0..M} w_kj z_j, z_0 = 1       (4) y_k = sigma(a_k)
  (5) E = 1/2 sum_n ||y_n - t_n||^2
  (8)/(10) delta_k = (y_k - t_k) sigma'(a_k)     (11) dE_n/dw_kj = delta_k z_j
  (13) delta_j = h'(a_j) sum_k w_kj delta_k      (12) dE_n/dw_ji = delta_j x_i
  (15) dE/dw = (E(w + eps) - E(w - eps)) / (2 eps)
Both h and sigma are the logistic sigmoid here. Everything is float64 so that eq. (15) is accurate enough
to check eqs. (10)-(13) to ~1e-8 relative error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Grads = tuple[np.ndarray, np.ndarray]


def sigmoid(a: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-a))


def sigmoid_prime(a: np.ndarray) -> np.ndarray:
    s = sigmoid(a)
    return s * (1.0 - s)


def _with_bias(v: np.ndarray) -> np.ndarray:
    """Prepend the constant-1 column (x_0 = 1, z_0 = 1) so biases live in column 0 of each weight matrix."""
    return np.hstack([np.ones((v.shape[0], 1), dtype=np.float64), v])


@dataclass
class TwoLayerNet:
    W1: np.ndarray  # (M, D+1): w_ji, column 0 is the bias weight w_j0
    W2: np.ndarray  # (K, M+1): w_kj, column 0 is the bias weight w_k0

    @classmethod
    def init(cls, d: int, m: int, k: int, rng: np.random.Generator) -> TwoLayerNet:
        # Fan-in scaled normal init keeps a_j, a_k in the sigmoid's non-saturated range.
        w1 = rng.normal(0.0, 1.0 / np.sqrt(d + 1), size=(m, d + 1))
        w2 = rng.normal(0.0, 1.0 / np.sqrt(m + 1), size=(k, m + 1))
        return cls(W1=w1.astype(np.float64), W2=w2.astype(np.float64))


@dataclass
class ForwardCache:
    a_j: np.ndarray  # (N, M) hidden pre-activations, eq. (1)
    z: np.ndarray  # (N, M+1) hidden outputs with the z_0 = 1 column, eq. (2)
    a_k: np.ndarray  # (N, K) output pre-activations, eq. (3)
    y: np.ndarray  # (N, K) outputs, eq. (4)


def forward(net: TwoLayerNet, X: np.ndarray) -> ForwardCache:
    x = _with_bias(np.asarray(X, dtype=np.float64))  # (N, D+1)
    a_j = x @ net.W1.T  # (N, M), eq. (1)
    z = _with_bias(sigmoid(a_j))  # (N, M+1), eq. (2) plus z_0 = 1
    a_k = z @ net.W2.T  # (N, K), eq. (3)
    return ForwardCache(a_j=a_j, z=z, a_k=a_k, y=sigmoid(a_k))  # eq. (4)


def error(net: TwoLayerNet, X: np.ndarray, T: np.ndarray) -> float:
    y = forward(net, X).y  # (N, K)
    return float(0.5 * np.sum((y - np.asarray(T, dtype=np.float64)) ** 2))  # eq. (5)


def backprop(net: TwoLayerNet, X: np.ndarray, T: np.ndarray) -> Grads:
    """dE/dW1, dE/dW2 for E of eq. (5): the per-pattern gradients of eqs. (11)/(12), summed over n."""
    x = _with_bias(np.asarray(X, dtype=np.float64))  # (N, D+1)
    c = forward(net, X)
    delta_k = (c.y - np.asarray(T, dtype=np.float64)) * sigmoid_prime(c.a_k)  # (N, K), eqs. (8)/(10)
    # Eq. (13) sums over k for j = 1..M only: the bias unit z_0 has no incoming weights, so W2's column 0 is skipped.
    delta_j = sigmoid_prime(c.a_j) * (delta_k @ net.W2[:, 1:])  # (N, M)
    # The matrix products sum the per-pattern outer products delta_k z_j and delta_j x_i over n.
    grad_w2 = delta_k.T @ c.z  # (K, M+1), eq. (11)
    grad_w1 = delta_j.T @ x  # (M, D+1), eq. (12)
    return grad_w1, grad_w2


def finite_difference_gradients(net: TwoLayerNet, X: np.ndarray, T: np.ndarray, eps: float = 1e-6) -> Grads:
    """Central differences, eq. (15): two forward passes per weight, so O(W^2) in total. For checking only."""
    grads: list[np.ndarray] = []
    for w in (net.W1, net.W2):
        g = np.zeros_like(w)
        for idx in np.ndindex(w.shape):
            orig = w[idx]
            w[idx] = orig + eps  # perturbs net in place; restored below
            e_plus = error(net, X, T)
            w[idx] = orig - eps
            e_minus = error(net, X, T)
            w[idx] = orig
            g[idx] = (e_plus - e_minus) / (2.0 * eps)
        grads.append(g)
    return grads[0], grads[1]


def train_step(net: TwoLayerNet, X: np.ndarray, T: np.ndarray, lr: float) -> float:
    """One step of W <- W - eta * grad E(W) (the paper's steepest descent); returns E before the step."""
    e = error(net, X, T)
    grad_w1, grad_w2 = backprop(net, X, T)
    net.W1 -= lr * grad_w1
    net.W2 -= lr * grad_w2
    return e
