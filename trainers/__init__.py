"""Trainer plugins (SFT, RFT, EEF) and the trajectory -> training data pipeline."""
