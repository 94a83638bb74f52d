"""Fat jets from four-momenta: anti-kT clustering with substructure, and particle-level jets.

The one home of jet building, used by the reference detector, by the readers (Delphes files
without a ``FatJet`` branch, particle-level HepMC and Delphes ``Particle`` input) and by the
explanation of the tagger:

* :mod:`surrotag.jets.clustering`: anti-kT R = 0.8, soft drop, trimming, tau_1..5 (fastjet);
* :mod:`surrotag.jets.nsubjettiness`: vectorised N-subjettiness from given axes;
* :mod:`surrotag.jets.particle`: the visible stable particles of a generator record and the
  particle-level fat jets clustered from them (no detector).
"""
