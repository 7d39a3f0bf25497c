"""Building blocks of the PEFT methods that no library serves here: Houlsby/Pfeiffer
bottleneck adapters and the masked-LM head MAD-X trains language adapters with."""
