"""Smart payment inside `headend run`: the daemon extension that runs fee control, and the desk
that answers payments the same way over the control socket and in a CLI's own process."""
