"""What a person sees: terminal tables, figures, result files and the `archsim` command."""
