"""The multi-target MLflow pyfunc: one model that returns `p_<target>` for every target.

This file is logged with MLflow's "models from code": MLflow stores the file itself and runs it
when the model is loaded; the fitted pipelines, feature spec, thresholds, drift reference and
feature importances travel as artifacts. Input is the lead-level feature table
(`spec.feature_columns()`; extra columns are ignored, missing ones are an error naming them).

Also the library side: `log_scoring_model` (called by training) and `load_model_artifacts`
(used by predict to read the spec, thresholds and reference of a model URI).
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

SPEC_FILE = "feature_spec.json"
THRESHOLDS_FILE = "thresholds.json"
REFERENCE_FILE = "reference.json"
IMPORTANCES_FILE = "importances.json"
MODEL_ARTIFACT_PREFIX = "pipeline_"
MODEL_NAME = "model"


class LeadScoringModel(PythonModel):
    """Calibrated per-target pipelines behind one `predict` that returns `p_<target>` columns."""

    def load_context(self, context):
        """Load the spec and the fitted pipeline of every target from the model's artifacts."""
        artifacts = context.artifacts
        self.spec = json.loads(Path(artifacts["feature_spec"]).read_text())
        self.thresholds = json.loads(Path(artifacts["thresholds"]).read_text())
        self.models = {
            t: joblib.load(artifacts[f"{MODEL_ARTIFACT_PREFIX}{t}"]) for t in self.thresholds
        }
        self.columns = list(self.spec["feature_columns"])
        self.categorical = list(self.spec["categorical_columns"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        """`p_<target>` for each row of the lead-level feature table `model_input`."""
        frame = pd.DataFrame(model_input)
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise ValueError(
                f"feature table lacks {len(missing)} column(s) the model needs: "
                + ", ".join(missing[:20]) + (" ..." if len(missing) > 20 else "")
            )
        probabilities, _ = predict_targets(self.models, frame, self.columns, self.categorical)
        return probabilities


def predict_targets(models: dict[str, Any], frame: pd.DataFrame, columns: list[str],
                    categorical: list[str], explain: str | None = None
                    ) -> tuple[pd.DataFrame, np.ndarray | None]:
    """`p_<target>` per row of the feature table `frame` for every fitted pipeline in `models`
    (equal to their `predict_proba`), and for the target `explain` also the signed log-odds
    contribution of each of `columns` (rows x columns), from the same pass over the model.

    The pyfunc and `leadq predict` both score through here, so their scores are identical."""
    from leadq.models.reasons import score_and_explain

    X = prepare_features(frame, columns, categorical)
    out, contributions = {}, None
    for target, model in models.items():
        out[f"p_{target}"], credits = score_and_explain(model, X, columns, explain=target == explain)
        contributions = credits if target == explain else contributions
    return pd.DataFrame(out, index=frame.index), contributions


def prepare_features(frame: pd.DataFrame, columns: list[str], categorical: list[str]) -> pd.DataFrame:
    """The model columns in order: numerics as float64 (unparseable → NaN), categoricals as
    object strings with None for missing, or as given when they are pandas Categoricals of
    strings (the candidates' category step reads both alike). Numerics that already are
    float64 are not copied."""
    categorical = set(categorical)
    out = {}
    for name in columns:
        values = frame[name]
        if name in categorical:
            if isinstance(values.dtype, pd.CategoricalDtype) and values.cat.categories.dtype == object:
                out[name] = values
            else:
                out[name] = values.astype(object).where(values.notna(), None)
        elif values.dtype == np.float64:
            out[name] = values
        else:
            out[name] = pd.to_numeric(values, errors="coerce").astype("float64")
    return pd.DataFrame(out, index=frame.index)


def input_schema(spec) -> "mlflow.types.Schema":
    """Explicit input schema: numerics as double (missing values survive CSV/JSON serving),
    categoricals as optional strings."""
    from mlflow.types import ColSpec, Schema

    categorical = set(spec.categorical_columns())
    return Schema([
        ColSpec("string", c, required=False) if c in categorical else ColSpec("double", c)
        for c in spec.feature_columns()
    ])


def log_scoring_model(
    models: dict[str, Any],
    spec,
    thresholds: dict[str, float],
    reference: dict[str, Any],
    importances: dict[str, dict[str, float]],
    input_example: pd.DataFrame,
    work_dir: Path,
) -> "mlflow.models.model.ModelInfo":
    """Log the pyfunc (models from code) to the active run under the name 'model'."""
    import sklearn
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    import leadq

    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    spec_doc = {
        **spec.model_dump(mode="json"),
        "feature_columns": spec.feature_columns(),
        "numeric_columns": spec.numeric_columns(),
        "categorical_columns": spec.categorical_columns(),
    }
    files = {
        "feature_spec": (SPEC_FILE, spec_doc),
        "thresholds": (THRESHOLDS_FILE, thresholds),
        "reference": (REFERENCE_FILE, reference),
        "importances": (IMPORTANCES_FILE, importances),
    }
    artifacts: dict[str, str] = {}
    for key, (filename, doc) in files.items():
        path = work_dir / filename
        path.write_text(json.dumps(doc, indent=2, default=float))
        artifacts[key] = str(path)
    for target, model in models.items():
        path = work_dir / f"{MODEL_ARTIFACT_PREFIX}{target}.joblib"
        joblib.dump(model, path)
        artifacts[f"{MODEL_ARTIFACT_PREFIX}{target}"] = str(path)

    signature = ModelSignature(
        inputs=input_schema(spec),
        outputs=Schema([ColSpec("double", f"p_{t}") for t in models]),
    )
    example = prepare_features(
        input_example, spec.feature_columns(), spec.categorical_columns()
    ).head(5)
    package_dir = Path(leadq.__file__).parent
    return mlflow.pyfunc.log_model(
        name=MODEL_NAME,
        python_model=str(Path(__file__).resolve()),
        artifacts=artifacts,
        signature=signature,
        input_example=example,
        # The pickled pipelines reference leadq classes: ship the package with the model.
        code_paths=[str(package_dir)],
        # Explicit requirements skip MLflow's slow import-sniffing subprocess.
        pip_requirements=[
            f"mlflow=={mlflow.__version__}",
            f"scikit-learn=={sklearn.__version__}",
            f"pandas=={pd.__version__}",
            f"numpy=={np.__version__}",
            f"joblib=={joblib.__version__}",
            "pydantic>=2.6",
            "pyyaml>=6.0",
        ],
    )


@dataclass
class ModelArtifacts:
    """What predict needs to know about a logged model besides its pyfunc."""

    model_uri: str
    local_dir: Path
    spec: Any
    thresholds: dict[str, float]
    reference: dict[str, Any]
    importances: dict[str, dict[str, float]]
    targets: list[str] = field(default_factory=list)

    def load_pipelines(self) -> dict[str, Any]:
        """The fitted calibrated scikit-learn pipeline per target (e.g. for reasons)."""
        folder = self.local_dir / "artifacts"
        return {
            t: joblib.load(folder / f"{MODEL_ARTIFACT_PREFIX}{t}.joblib") for t in self.targets
        }


def load_model_artifacts(model_uri: str, tracking_uri: str | None = None) -> ModelArtifacts:
    """Download a logged model and read its spec, thresholds, reference and importances."""
    from mlflow.exceptions import MlflowException

    from leadq.core.errors import ModelNotFoundError
    from leadq.features.spec import FeatureSpec

    try:
        if tracking_uri is None:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri))
        else:
            from leadq.tracking.store import use_tracking_uri

            # models:/ URIs resolve through the registry URI, which the argument does not set.
            with use_tracking_uri(tracking_uri):
                local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri))
    except MlflowException as exc:  # a run or artifact path that does not exist
        first = (str(exc.message).strip().splitlines() or ["not found"])[0]
        raise ModelNotFoundError(f"model '{model_uri}' cannot be loaded: {first}") from None
    folder = local / "artifacts"
    if not (folder / SPEC_FILE).is_file():
        raise ModelNotFoundError(f"model '{model_uri}' is not a leadq model (no {SPEC_FILE} in its artifacts)")
    spec_doc = json.loads((folder / SPEC_FILE).read_text())
    spec_fields = {k: v for k, v in spec_doc.items() if k in FeatureSpec.model_fields}
    thresholds = json.loads((folder / THRESHOLDS_FILE).read_text())
    return ModelArtifacts(
        model_uri=model_uri,
        local_dir=local,
        spec=FeatureSpec.model_validate(spec_fields),
        thresholds=thresholds,
        reference=json.loads((folder / REFERENCE_FILE).read_text()),
        importances=json.loads((folder / IMPORTANCES_FILE).read_text()),
        targets=list(thresholds),
    )


# MLflow runs this file as its own module when loading the model; importing it as
# `leadq.tracking.pyfunc` (the library side) must not register anything.
if __name__ != "leadq.tracking.pyfunc":
    mlflow.models.set_model(LeadScoringModel())
