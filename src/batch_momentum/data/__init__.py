"""The datasets: real files fetched and checked (raw), and the prepared tensors every step loads."""
