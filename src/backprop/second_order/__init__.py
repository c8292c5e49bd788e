"""Uses of second derivatives: Newton-type training through scipy.optimize and the Laplace approximation."""
