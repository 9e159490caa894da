"""The noise PSDs lalsimulation can colour simulated noise with, copied here so that building a DAG needs no lalsuite.

Each name is a ``SimNoisePSD<name>`` that aframe-background evaluates (the noise components, such as ``Shot``, are
not among them). tests/aframe_dag/config/test_noise_psds.py holds this copy to the installed lalsimulation.
"""

NOISE_PSDS = (
    "AdVBNSOptimizedSensitivityP1200087", "AdVDesignSensitivityP1200087", "AdVEarlyHighSensitivityP1200087",
    "AdVEarlyLowSensitivityP1200087", "AdVLateHighSensitivityP1200087", "AdVLateLowSensitivityP1200087",
    "AdVMidHighSensitivityP1200087", "AdVMidLowSensitivityP1200087", "AdVO3LowT1800545",
    "AdVO4IntermediateT1800545", "AdVO4T1800545", "AdvVirgo", "aLIGO140MpcT1800545", "aLIGO175MpcT1800545",
    "aLIGOAdVO3LowT1800545", "aLIGOAdVO4IntermediateT1800545", "aLIGOAdVO4T1800545", "aLIGOaLIGO140MpcT1800545",
    "aLIGOaLIGO175MpcT1800545", "aLIGOaLIGODesignSensitivityT1800044", "aLIGOaLIGOO3LowT1800545",
    "aLIGOAPlusDesignSensitivityT1800042", "aLIGOBHBH20Deg", "aLIGOBHBH20DegGWINC",
    "aLIGOBNSOptimizedSensitivityP1200087", "aLIGODesignSensitivityP1200087", "aLIGODesignSensitivityT1800044",
    "aLIGOEarlyHighSensitivityP1200087", "aLIGOEarlyLowSensitivityP1200087", "aLIGOHighFrequency",
    "aLIGOHighFrequencyGWINC", "aLIGOKAGRA128MpcT1800545", "aLIGOKAGRA25MpcT1800545", "aLIGOKAGRA80MpcT1800545",
    "aLIGOLateHighSensitivityP1200087", "aLIGOLateLowSensitivityP1200087", "aLIGOMidHighSensitivityP1200087",
    "aLIGOMidLowSensitivityP1200087", "aLIGONoSRMHighPower", "aLIGONoSRMLowPower", "aLIGONoSRMLowPowerGWINC",
    "aLIGONSNSOpt", "aLIGONSNSOptGWINC", "aLIGOO3LowT1800545", "aLIGOQuantumBHBH20Deg", "aLIGOQuantumHighFrequency",
    "aLIGOQuantumNoSRMHighPower", "aLIGOQuantumNoSRMLowPower", "aLIGOQuantumNSNSOpt",
    "aLIGOQuantumZeroDetHighPower", "aLIGOQuantumZeroDetLowPower", "aLIGOThermal", "aLIGOZeroDetHighPower",
    "aLIGOZeroDetHighPowerGWINC", "aLIGOZeroDetLowPower", "aLIGOZeroDetLowPowerGWINC", "CosmicExplorerP1600143",
    "CosmicExplorerPessimisticP1600143", "CosmicExplorerWidebandP1600143", "EinsteinTelescopeP1600143",
    "eLIGOModel", "eLIGOShot", "GEO", "GEOHF", "iLIGOModel", "iLIGOSeismic", "iLIGOShot", "iLIGOSRD",
    "iLIGOThermal", "KAGRA", "KAGRA128MpcT1800545", "KAGRA25MpcT1800545", "KAGRA80MpcT1800545",
    "KAGRADesignSensitivityT1600593", "KAGRAEarlySensitivityT1600593", "KAGRALateSensitivityT1600593",
    "KAGRAMidSensitivityT1600593", "KAGRAOpeningSensitivityT1600593", "TAMA", "Virgo",
)
