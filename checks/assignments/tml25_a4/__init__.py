"""Checks of TML25 A4: a team's repository explains ResNet predictions with network dissection,
the Grad-CAM family and LIME, and submits LIME parameters that a safe scorer runs."""
