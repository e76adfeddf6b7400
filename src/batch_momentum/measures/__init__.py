"""What is measured on a trained run: Hessian, sharpness, gradient noise, landscape, timing."""
