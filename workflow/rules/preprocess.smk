# Preprocessing (per scan, three cached steps; see latentcf.preprocess):
#   preprocess_native        raw T1w -> N4-corrected head + brain mask (native grid) + skull-strip QC
#   preprocess_register      brain -> template brain affine (.mat) + registration QC
#   preprocess_grid          normalised skull-stripped T1w + brain mask on the model grid
# plus the derivative root's dataset_description.json and a cohort QC table/mosaic.
# Each step gets only its own settings through params:, so changing e.g. the normalisation or
# resolution_mm reruns preprocess_grid only, and changing the registration does not redo N4 or
# skull stripping. Outputs: BIDS-derivative names under {OUT}/preprocess/.

PREPROC = f"{OUT}/preprocess"
PREPROC_DESCRIPTION = f"{PREPROC}/dataset_description.json"
# Native space (the scan's own grid).
PREPROC_NATIVE_T1W = f"{PREPROC}/{{scan}}_desc-preproc_T1w.nii.gz"
PREPROC_NATIVE_MASK = f"{PREPROC}/{{scan}}_desc-brain_mask.nii.gz"
PREPROC_SKULLSTRIP_QC = f"{PREPROC}/{{scan}}_desc-skullstrip_qc.png"
PREPROC_SKULLSTRIP_JSON = f"{PREPROC}/{{scan}}_desc-skullstrip_qc.json"
# Forward transform T1w -> template (ITK affine; resample a T1w image into template space with it,
# its inverse brings template/model-grid images back to the scan: latentcf.preprocess.register).
PREPROC_XFM = f"{PREPROC}/{{scan}}_from-T1w_to-{TEMPLATE_ID}_mode-image_xfm.mat"
PREPROC_REGISTRATION_QC = f"{PREPROC}/{{scan}}_desc-registration_qc.png"
PREPROC_REGISTRATION_JSON = f"{PREPROC}/{{scan}}_desc-registration_qc.json"
# Model grid (what the model stages read); format with scan= and res= (res = RES in this run).
PREPROC_T1W = f"{PREPROC}/{{scan}}_space-{TEMPLATE_ID}_res-{{res}}_desc-preproc_T1w.nii.gz"
PREPROC_MASK = f"{PREPROC}/{{scan}}_space-{TEMPLATE_ID}_res-{{res}}_desc-brain_mask.nii.gz"
# Cohort-level QC.
PREPROC_QC_TABLE = f"{PREPROC}/qc/preprocess_qc.tsv"
PREPROC_QC_MOSAIC = f"{PREPROC}/qc/preprocess_qc.png"

_PP = config["preprocess"]
_PP_MEM_MB = {"deepbet": 4000, "brainextractor": 3000, "template": 3000}


rule preprocess_description:
    output:
        PREPROC_DESCRIPTION,
    params:
        code=code("preprocess_description.py"),
    log:
        "logs/preprocess/dataset_description.log",
    benchmark:
        "benchmarks/preprocess/dataset_description.tsv",
    localrule: True
    conda:
        "../../envs/latentcf.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    script:
        "../../scripts/preprocess_description.py"


rule preprocess_native:
    input:
        t1w=scan_input_t1w,
    output:
        t1w=PREPROC_NATIVE_T1W,
        mask=PREPROC_NATIVE_MASK,
        qc=PREPROC_SKULLSTRIP_QC,
        qc_json=PREPROC_SKULLSTRIP_JSON,
    params:
        n4=_PP["n4"],
        skullstrip={
            "method": _PP["skullstrip"]["method"],
            "options": _PP["skullstrip"][_PP["skullstrip"]["method"]],
        },
        code=code("preprocess_native.py"),
    log:
        "logs/preprocess/native/{scan}.log",
    benchmark:
        "benchmarks/preprocess/native/{scan}.tsv"
    conda:
        "../../envs/latentcf.yaml"
    threads: _PP["threads"]
    resources:
        mem_mb=_PP_MEM_MB[_PP["skullstrip"]["method"]],
        runtime=20,
    script:
        "../../scripts/preprocess_native.py"


rule preprocess_register:
    input:
        t1w=PREPROC_NATIVE_T1W,
        mask=PREPROC_NATIVE_MASK,
    output:
        xfm=PREPROC_XFM,
        qc=PREPROC_REGISTRATION_QC,
        qc_json=PREPROC_REGISTRATION_JSON,
    params:
        registration=_PP["registration"],
        code=code("preprocess_register.py"),
    log:
        "logs/preprocess/register/{scan}.log",
    benchmark:
        "benchmarks/preprocess/register/{scan}.tsv"
    conda:
        "../../envs/latentcf.yaml"
    threads: _PP["threads"]
    resources:
        mem_mb=3000,
        runtime=20,
    script:
        "../../scripts/preprocess_register.py"


rule preprocess_grid:
    input:
        t1w=PREPROC_NATIVE_T1W,
        mask=PREPROC_NATIVE_MASK,
        xfm=PREPROC_XFM,
        description=PREPROC_DESCRIPTION,
    output:
        t1w=PREPROC_T1W.format(scan="{scan}", res=RES),
        mask=PREPROC_MASK.format(scan="{scan}", res=RES),
    params:
        resolution_mm=RES,
        normalisation=_PP["normalisation"],
        interpolation=_PP["interpolation"],
        code=code("preprocess_grid.py"),
    log:
        "logs/preprocess/grid/{scan}.log",
    benchmark:
        "benchmarks/preprocess/grid/{scan}.tsv"
    conda:
        "../../envs/latentcf.yaml"
    threads: 1
    resources:
        mem_mb={1: 3000, 2: 2000, 4: 2000}[RES],
        runtime=10,
    script:
        "../../scripts/preprocess_grid.py"


rule preprocess_qc:
    input:
        skullstrip=lambda wildcards: [PREPROC_SKULLSTRIP_JSON.format(scan=s) for s in scans()],
        registration=lambda wildcards: [PREPROC_REGISTRATION_JSON.format(scan=s) for s in scans()],
        images=lambda wildcards: [PREPROC_T1W.format(scan=s, res=RES) for s in scans()],
    output:
        table=PREPROC_QC_TABLE,
        mosaic=report(
            PREPROC_QC_MOSAIC,
            caption="../report/preprocess_qc.rst",
            category="Preprocessing",
        ),
    params:
        scans=lambda wildcards: scans(),
        code=code("preprocess_qc.py"),
    log:
        "logs/preprocess/qc.log",
    benchmark:
        "benchmarks/preprocess/qc.tsv",
    conda:
        "../../envs/latentcf.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../../scripts/preprocess_qc.py"
