"""The interferometers lal knows, copied here so that building a DAG needs no lalsuite (an access point may lack it)."""

# Prefix -> lal's name for every entry of lal.CachedDetectors except the resonant bars (LALDETECTORTYPE_CYLBAR, such
# as X1, EXPLORER). tests/aframe_dag/config/test_detectors.py holds this copy to the installed lalsuite.
INTERFEROMETERS = {
    "C1": "CIT_40",
    "E0": "ET0_T1400308",
    "E1": "ET1_T1400308",
    "E2": "ET2_T1400308",
    "E3": "ET3_T1400308",
    "G1": "GEO_600",
    "H1": "LHO_4k",
    "H2": "LHO_2k",
    "I1": "LIO_4k",
    "K1": "KAGRA",
    "L1": "LLO_4k",
    "T1": "TAMA_300",
    "U1": "ACIGA",
    "V0": "VIRGO_CITF",
    "V1": "VIRGO",
}
