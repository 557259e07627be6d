"""Small dense linear algebra for symmetric positive definite systems, numpy only.

LAPACK and matrix-matrix BLAS (numpy's OpenBLAS) run multithreaded on the style fit's (n + k)-sized
matrices (ratings/style.py), and stall when the other cores are busy, as they are on a shared server:
measured on 2 cores under load, a 134 x 134 np.linalg.solve took 0.2 ms at the median, 15 ms at the
90th percentile and up to 270 ms.
The fit solves with a Cholesky factor computed here (blocked; the block updates by np.einsum, which
never calls BLAS), and matrix-vector products (single-threaded BLAS at these sizes) do the rest.
"""

import math

import numpy as np

from ratings.bootstrap import FloatArray

CHOLESKY_BLOCK = 32


def einsum_product(left: FloatArray, right: FloatArray) -> FloatArray:
    """left @ right by np.einsum (no BLAS)."""
    return np.einsum("ij,jk->ik", left, right)


def cholesky(matrix: FloatArray) -> FloatArray | None:
    """The lower-triangular L with L L^T = matrix, or None if the matrix is not positive definite."""
    factor = np.array(matrix, dtype=np.float64)
    size = len(factor)
    for start in range(0, size, CHOLESKY_BLOCK):
        stop = min(start + CHOLESKY_BLOCK, size)
        for column in range(start, stop):  # the block's columns, down to the last row
            pivot = factor[column, column]
            if not pivot > 0:
                return None
            pivot = math.sqrt(pivot)
            factor[column, column] = pivot
            below = factor[column + 1 :, column]
            below /= pivot
            factor[column + 1 :, column + 1 : stop] -= np.multiply.outer(below, below[: stop - column - 1])
        if stop < size:  # the rest of the matrix, by the block's columns at once
            panel = factor[stop:, start:stop]
            factor[stop:, stop:] -= np.einsum("ik,jk->ij", panel, panel)
    return np.tril(factor)


def solve_lower(factor: FloatArray, right: FloatArray) -> FloatArray:
    """factor^-1 right, factor lower-triangular; right (m,) or (m, columns)."""
    solution = np.array(right, dtype=np.float64)
    for row in range(len(factor)):
        solution[row] -= factor[row, :row] @ solution[:row]
        solution[row] /= factor[row, row]
    return solution


def solve_upper(factor: FloatArray, right: FloatArray) -> FloatArray:
    """factor^-T right, factor lower-triangular (so factor^T upper); right (m,) or (m, columns)."""
    solution = np.array(right, dtype=np.float64)
    for row in range(len(factor) - 1, -1, -1):
        solution[row] -= factor[row + 1 :, row] @ solution[row + 1 :]
        solution[row] /= factor[row, row]
    return solution


def spd_solve(matrix: FloatArray, right: FloatArray) -> FloatArray:
    """matrix^-1 right for a symmetric positive definite matrix (LAPACK if rounding makes it not)."""
    factor = cholesky(matrix)
    if factor is None:
        return np.linalg.solve(matrix, right).astype(np.float64, copy=False)
    return solve_upper(factor, solve_lower(factor, right))


def spd_inverse(matrix: FloatArray) -> FloatArray:
    """matrix^-1 for a symmetric positive definite matrix: L^-T L^-1."""
    factor = cholesky(matrix)
    if factor is None:
        return np.linalg.inv(matrix).astype(np.float64, copy=False)
    lower_inverse = solve_lower(factor, np.eye(len(matrix)))
    return np.einsum("ki,kj->ij", lower_inverse, lower_inverse)
