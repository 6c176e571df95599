"""Local stand-ins for outside services that cannot be reached from here, speaking their JSON
shapes, with adapters the intake service uses (电子证照 e-license check)."""
