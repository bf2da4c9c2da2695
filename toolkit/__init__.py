"""The torch-side toolkit: everything that defines, converts, imports and exports models,
never copied into the function's image."""
