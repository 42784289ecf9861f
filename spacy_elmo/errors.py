"""Coded, actionable error and warning messages (spaCy's ``ErrorsWithCodes`` pattern).

Every message says what was found, what was expected and what to do. Messages are looked up
as class attributes, which prefixes the code: ``Errors.E001`` renders as ``"[E001] ..."``.

Ranges: E0xx options/weights files, E1xx model input and runtime, E2xx spaCy integration,
E3xx pretraining. This module imports nothing from spaCy, so the pure torch and file-format
code can raise these errors without pulling spaCy in.
"""


class ErrorsWithCodes(type):
    def __getattribute__(self, code: str) -> str:
        msg = super().__getattribute__(code)
        if code.startswith("__"):
            return msg
        return f"[{code}] {msg}"


class ElmoFormatError(ValueError):
    """An options.json or weights.hdf5 file that cannot be used as given."""


class ElmoInputError(ValueError):
    """Input to the biLM that cannot be processed as given."""


class ElmoDownloadError(ElmoInputError):
    """A biLM that could not be found, fetched or checked (catalogue names, URLs, the cache)."""


class Warnings(metaclass=ErrorsWithCodes):
    W001 = (
        "options.json has keys that this package does not use and ignores: {keys}. "
        "Training-only keys are expected in files dumped by bilm-tf; check the spelling of "
        "any other key."
    )
    W003 = (
        "An ELMo listener (upstream={upstream!r}) received no layers from its 'elmo' "
        "component for a training batch and computes them itself through that component's "
        "biLM: the same vectors, computed twice and not cached. Do not exclude the 'elmo' "
        "component from nlp.update (or [training] frozen_components)."
    )
    W004 = (
        "precision='bfloat16' was requested on a CPU without bfloat16 instructions "
        "(AVX512-BF16 or AMX): its bfloat16 products are emulated and may be slower than "
        "float32. Use precision='float32' (exact) on this machine."
    )
    W005 = (
        "precision='int8' was requested on a CPU without VNNI instructions (AVX512-VNNI or "
        "AVX-VNNI): its int8 products run on slower instructions and may be slower than "
        "float32. Use precision='float32' (exact) or 'bfloat16' on this machine."
    )

    # --- W030-W039: pretraining ----------------------------------------------------------
    W030 = (
        "'{path}' is not valid UTF-8: {n_lines} line(s) had undecodable bytes, replaced by "
        "U+FFFD. Convert the file to UTF-8 if this is unexpected."
    )
    W031 = (
        "'{path}' has {n_lines} line(s) longer than {max_chars} characters (the longest: "
        "{longest}); they were split into pieces of at most {max_chars} characters."
    )
    W032 = "'{path}' has no text and is skipped."
    W033 = (
        "matplotlib is not installed: {path} is not written. "
        "pip install 'spacy-elmo[pretrain]' (matplotlib)."
    )
    W034 = (
        "'{path}' has {n_tokens} tokens longer than {max_chars} characters (binary junk or "
        "URLs?); they were cut to {max_chars} characters."
    )
    W035 = (
        "Using the checkpoint '{path}', the newest one that loads. Skipped: {skipped}. "
        "Training continues from there; the skipped steps are trained again."
    )
    W037 = (
        "'{path}' has no SHA-256 digest (written by an older version of spacy-elmo), so "
        "damaged bytes cannot be detected; it is loaded as it is."
    )
    W038 = (
        "The biLM is never updated in this run ({why}): only the softmax trains, and the "
        "written biLM equals BASE. Raise training.max_steps above adapt.freeze_bilm_steps and "
        "keep adapt.bilm_lr_scale above 0 to adapt it (this setting is useful as a control)."
    )
    W039 = (
        "No --dev file: the model card of '{path}' has no held-out perplexity, so whether "
        "adapting helped is not measured. Pass held-out text of the domain with --dev."
    )

    # --- W010-W014: model catalogue and downloads ---------------------------------------
    W010 = (
        "The options.json fetched for '{name}' from {where} differs from the catalogue's "
        "record ({diff}). The file is used as fetched; report the change if it is unexpected."
    )
    W011 = "Could not fetch '{name}' from {source} ({error}); trying the mirror {mirror}."
    W012 = (
        "The cached file '{path}' (from {source}) failed its check ({error}); it was "
        "removed and is fetched again."
    )
    W013 = (
        "The biLM '{model}' was trained on {model_lang!r} text, but this pipeline's language "
        "is {nlp_lang!r}: its vectors will be of little use. Pick a model for {nlp_lang!r} "
        "(python -m spacy_elmo models --lang {nlp_lang}), or make the pipeline with "
        "spacy.blank({model_lang!r})."
    )

    # --- W015-W019: corpus embedding (``embed``) -----------------------------------------
    W015 = (
        "Resuming the unfinished run in '{path}': {done} already embedded are kept (in "
        "{pieces} saved piece(s)); the rest is embedded now."
    )

    # --- W020-W024: settings ----------------------------------------------------------------
    W020 = (
        "The biLM's device is {device!r}, which this machine does not have ({reason}); it runs "
        'on the CPU. To run there without this warning, set device = "cpu" (or "auto": '
        "follow spaCy's device) in [components.elmo.model], the section that owns the biLM's "
        "settings, and delete any device line from [components.elmo]."
    )
    W021 = (
        "spaCy runs on GPU {index} (thinc's current ops), but torch sees {count} CUDA "
        "device(s), so the biLM runs on the CPU. Install a CUDA build of torch to run it on "
        'the GPU, or set device = "cpu" in [components.elmo.model] to silence this.'
    )


class Errors(metaclass=ErrorsWithCodes):
    # --- E0xx: options.json and weights.hdf5 -------------------------------------------
    E001 = "The {what} '{path}' does not exist. Check the path, or pass the file explicitly."
    E002 = (
        "'{path}' is not an HDF5 file ({error}). Pass the weights file (weights.hdf5) "
        "here, not options.json; a file that was downloaded incompletely must be fetched again."
    )
    E003 = (
        "The weights file '{path}' has no dataset '{key}', which the options ({config}) "
        "require. The file is truncated or belongs to a different architecture: check that "
        "options.json and weights.hdf5 come from the same model."
    )
    E004 = (
        "The dataset '{key}' in '{path}' has shape {found}, but the options require "
        "{expected}. options.json and weights.hdf5 do not belong to the same model: use the "
        "options.json that was published with this weights file."
    )
    E005 = "'{path}' is not valid JSON ({error}). Pass the model's options.json here."
    E006 = (
        "options.json is missing the key '{key}'. A bilm-tf/AllenNLP options file needs "
        "'lstm' (dim, projection_dim, n_layers, cell_clip, proj_clip, use_skip_connections) "
        "and 'char_cnn' (embedding.dim, filters, n_highway, n_characters, "
        "max_characters_per_token, activation)."
    )
    # E007 (an invalid value in options.json) is E110.
    E008 = (
        "Unknown preset '{name}'. Available presets: {names}. Or pass explicit "
        "options.json settings."
    )
    E009 = (
        "The dataset '{key}' in '{path}' could not be read ({error}). The file is corrupt or "
        "truncated: fetch or write it again."
    )
    E010 = (
        "The dataset '{key}' in '{path}' contains {count} non-finite values (NaN or inf). "
        "The weights are corrupt (or training diverged); use another checkpoint."
    )
    E011 = "The dataset '{key}' in '{path}' has dtype {dtype}; expected a floating point type."

    # --- E012-E029: security and reliability of model files ------------------------------
    E012 = (
        "The {what} '{path}' is a directory. Pass the file itself, usually '{name}' inside "
        "that directory."
    )
    E013 = (
        "The {what} '{path}' is a symbolic link loop (it points, through other links, back to "
        "itself). Point the link at the real file, or pass the file's own path."
    )
    E014 = (
        "The {what} '{path}' cannot be read ({error}). Give this process read permission on "
        "the file (and search permission on its folders), or copy it somewhere readable."
    )
    E015 = (
        "The {what} '{path}' is not a regular file (a FIFO, socket or device), which could "
        "block or never end. Pass the model file itself."
    )
    E016 = (
        "The weights file '{path}' has {kind} at '{key}'. Weights files hold plain datasets "
        "only; a link or external storage could read data from outside the file, so it is "
        "refused. Re-export the weights (e.g. load them with h5py and write plain datasets)."
    )
    E017 = (
        "The weights file '{path}' has the dataset '{key}', but the options say {setting}, so "
        "it would be silently ignored. options.json and weights.hdf5 do not match: use the "
        "options.json published with these weights{hint}."
    )
    E018 = (
        "The options describe a biLM with {n_params:,} parameters ({gib:.1f} GiB in float32), "
        "more than the {limit:,} this package loads (the largest published ELMo has 94 "
        "million). The options file is corrupt or not an ELMo options.json."
    )
    E019 = (
        "The weights file '{path}' holds entries that the options ({config}) do not use: "
        "{keys}. They would be ignored without a word; bilm-tf and this package write exactly "
        "the datasets the options imply (docs/format.md §3). options.json and "
        "weights.hdf5 most likely come from different models: use the options.json published "
        "with these weights, or, if the entries are really unused, copy the file without them."
    )

    # --- E020-E029: ELMoForManyLangs model folders ----------------------------------------
    E020 = (
        "The ELMoForManyLangs model folder '{folder}' has no {what} ('{path}'). A model "
        "unpacked from its archive holds config.json, the network config it names, char.dic, "
        "word.dic (with a word embedding), token_embedder.pkl and encoder.pkl: unpack the "
        "archive again, or point to the folder that holds config.json."
    )
    E021 = (
        "The dictionaries of this ELMoForManyLangs model lack the symbols {missing}, which "
        "the package's loader requires (begin/end of word, unknown, padding, sentence "
        "boundaries). char.dic or word.dic is truncated or from another model: unpack the "
        "archive again."
    )
    E022 = (
        "A token vocabulary giving {width} ids per token does not fit a biLM reading "
        "{expected} ids per token (or a biLM of UTF-8 byte ids). Build the biLM from the "
        "same model's config (spacy_elmo.weights.manylangs.load_manylangs)."
    )
    E023 = (
        "'{path}' line {line}: {problem}. Every line of an ELMoForManyLangs dictionary is "
        "'<symbol>\\t<id>' with a unique non-negative integer id below the embedding's row "
        "count. The file is damaged: unpack the archive again."
    )
    E024 = (
        "'{path}' could not be read as tensors only ({error}). ELMoForManyLangs weights are "
        "PyTorch state dicts; this package opens them with torch.load(weights_only=True) "
        "and never runs code stored in a pickle. Use the file from the model's archive, or "
        "re-save it as a plain state dict (torch.save(module.state_dict(), path))."
    )
    E025 = (
        "'{path}' does not match the model's config: {problem}. The .pkl files and the "
        "network config ({config}) come from different models, or the file is damaged: use "
        "the files of one archive together."
    )
    E026 = (
        "The ELMoForManyLangs config '{path}' sets {key} = {value!r}; this package loads "
        "{expected}. Every published ELMoForManyLangs model uses the token embedder 'cnn' "
        "and the encoder 'elmo' (elmoformanylangs/configs/cnn_50_100_512_4096_sample.json); "
        "use one of those, or the elmoformanylangs package itself for other layouts."
    )
    E027 = (
        "'{path}' is not a usable ELMoForManyLangs config ({error}). config.json is a JSON "
        "object whose 'config_path' names the network config (a JSON object with "
        "'token_embedder' and 'encoder' sections) in the same folder."
    )

    # --- E1xx: model input and runtime --------------------------------------------------
    E101 = (
        "Character ids must have shape (batch, n_tokens, {n_chars}), got {shape}. Use "
        "spacy_elmo.batch_to_ids(sentences) to build them."
    )
    E102 = (
        "Character id {value} is out of range: ids must lie in 0..{max_id} (byte + 1, "
        "257-261 for special characters, 0 for padding). Build ids with "
        "spacy_elmo.batch_to_ids."
    )
    E103 = (
        "Expected a list of sentences, each a list of token strings; got {type} at {where}. "
        "Tokenize first, e.g. sentence.split()."
    )
    E104 = (
        "Unknown state mode {value!r}. Use 'warm' (default: every sentence starts from one "
        "fixed warmed-up state; deterministic), 'zero' (every sentence starts from zeros) or "
        "'stateful' (AllenNLP/bilm-tf: states carried across batches by batch row)."
    )
    E105 = (
        "Unknown output format {value!r}. Use 'all' (L+1, n, 2P), 'top' (n, 2P) or "
        "'average' (n, 2P)."
    )
    E106 = (
        "Line {lines} of the input file is empty (after stripping whitespace). Every line "
        "must hold one tokenized sentence: remove empty lines."
    )
    E107 = (
        "Two lines of the input hold the same sentence ({sentence!r}), which cannot both be "
        "keys with --use-sentence-keys. Remove the duplicate or drop --use-sentence-keys."
    )
    E108 = (
        "ScalarMix expects {expected} layers, got {found}. Give as many initial weights as "
        "the biLM has output layers (n_layers + 1)."
    )
    E109 = "Device {device!r} is not available: {error}. Use device='cpu'."
    E110 = "Invalid value for '{name}': {value!r}. Expected {expected}."
    E111 = (
        "State tensors have shape {found}; the model expects {expected}. Pass a state "
        "returned by this model (or None for zeros)."
    )
    E112 = (
        "Line {line} of '{path}' is not 'word<TAB>sense<TAB>sentence' with the word among the "
        "sentence's whitespace-separated tokens: {text!r}. Fix the line or start it with '#'."
    )
    E113 = (
        "The word {word!r} needs at least two senses and two occurrences of one sense to "
        "compare within and across senses. Add sentences for it."
    )
    E114 = (
        "Unknown precision {value!r}. Use 'float32' (default: exact, the original numerics), "
        "'bfloat16' (the biLSTM's matrix products in bfloat16: faster on CPUs with "
        "bfloat16 GEMMs, e.g. AVX512-BF16 or AMX; vectors off by about 0.3% relative) or "
        "'int8' (the biLSTM's weights quantized to int8 per output channel: CPU only, "
        "fastest on CPUs with VNNI)."
    )
    E120 = (
        "This biLM holds its LSTM weights only in {precision} (lean: loaded for inference "
        "at that precision), so it cannot be trained, saved, loaded into or asked for its "
        "float32 weights. Load it again with lean=False (ElmoEmbedder(..., lean=False), or "
        "spacy_elmo.weights.load_bilm) to train or save it."
    )
    E121 = (
        "This biLM holds its LSTM and highway weights only in {lean} (lean), so it cannot run its "
        "matrix products in {asked}. Give every embedder that shares it precision="
        "'{lean}', or load the biLM with lean=False to share it between precisions."
    )
    E122 = (
        "precision='int8' cannot run here: {problem}. Use precision='bfloat16' or 'float32' "
        "there, or run the biLM on a CPU (device='cpu')."
    )
    E123 = (
        "This biLM's char CNN holds its highway weights only in {precision} (lean: loaded "
        "for inference at that precision), so it cannot be trained, saved or asked for its "
        "float32 highway weights. Load it again with lean=False (ElmoEmbedder(..., "
        "lean=False), or spacy_elmo.weights.load_bilm) to train or save it."
    )
    E115 = (
        "{name}={value!r} needs at least {need} of memory ({what}), more than the {memory} "
        "of memory {device} has, so it could never be used. Use at most {most:,}{advice}."
    )

    # --- E2xx: spaCy integration --------------------------------------------------------
    # E201 (a biLM given by one file only) is E402.
    E202 = (
        "scalar_mix has {found} weights, but the biLM has {n_layers} output layers. Give one "
        "pre-softmax weight per layer (n_layers + 1 of the LSTM), or null for an even average."
    )
    E203 = (
        "Cannot read {path}: {error}. Pass a CoNLL file (one token per line, the label in "
        "the last column, blank lines between sentences) or a TSV file (label TAB text)."
    )
    E204 = "Unknown input format {value!r}. Use one of: {options}."
    E205 = (
        "The model {name!r} has no ElmoShim: the elmo component and spacy-elmo.BiLMFiles.v1 "
        "need a 'spacy-elmo.ElmoLayers.v1' model. Set the component's model to that "
        "architecture, or attach the loader to an elmo component."
    )
    E206 = (
        "The elmo component has a listener {name!r} that is not an ElmoListenerNode, so it "
        "cannot receive layers. Use 'spacy-elmo.ElmoListener.v1' in the downstream model."
    )

    # --- E207-E239: settings (one owner per setting), listener wiring -------------------
    E207 = (
        "The biLM setting {name!r} is given twice with different values: {flat!r} in the "
        "elmo component's own section (the shorthand [components.elmo] {name}) and {model!r} "
        "in its model section ([components.elmo.model] {name}). Set it in one place: the "
        "model section owns the biLM's settings."
    )
    E208 = "Unknown settings for {where}: {keys}. Known: {known}."
    E209 = (
        "Unknown device {value!r}. Use 'auto' (default: the GPU spaCy uses after "
        "spacy.require_gpu(N) or `spacy train --gpu-id N`, else the CPU), 'cpu', 'cuda', "
        "'cuda:N' or 'mps'."
    )
    E210 = (
        "The ELMo listener in component {component!r} listens to upstream={upstream!r}, but "
        "{problem}. The pipeline has: {components}. Set upstream to the name of an 'elmo' "
        'component that comes before {component!r} in [nlp] pipeline (or "*" for the '
        "nearest one), or give the listener its own biLM in a 'layers' section "
        '(@architectures = "spacy-elmo.ElmoLayers.v1").'
    )
    E211 = (
        "An ELMo listener (upstream={upstream!r}) is linked to no 'elmo' component, so it has "
        "no biLM layers. Put an 'elmo' component named {upstream!r} before this component in "
        "[nlp] pipeline and keep it out of [training] frozen_components (it is never trained "
        "anyway), or give the listener its own biLM in a 'layers' section "
        '(@architectures = "spacy-elmo.ElmoLayers.v1"; no files: the embedded default '
        "model)."
    )
    E212 = (
        "The ELMo listener{where} has width {width}, but the biLM's output width (2P) is "
        "{found}. Set the listener's width to {found} (1024 for the original ELMo models), or "
        "to null when the downstream model does not read it."
    )
    E213 = (
        "The elmo component's serialized data holds the files {names}; expected exactly "
        "{expected}. The data is damaged or was not written by spacy-elmo: load pipelines "
        "only from sources you trust."
    )
    E214 = (
        "The elmo component {name!r} has biLM files in its model section ({options_file!r}, "
        "{weight_file!r}) and a bilm_loader at [initialize.components.{name}]. Give the files "
        "in one place: remove the loader, or set options_file and weight_file to null in "
        "[components.{name}.model]."
    )
    E215 = (
        "The serialized data of {what} cannot be read: {problem}. It is not what spacy-elmo "
        "writes for {what} (msgpack of a dict with {expected}), or it was cut short or "
        "changed on the way. Serialize the pipeline again with nlp.to_bytes() (or save it with "
        "nlp.to_disk()) where it was built, and load pipelines only from sources you trust."
    )
    E216 = (
        "The biLM files in the elmo component's serialized data cannot be used: {error} "
        "The data is damaged or was not written by spacy-elmo: serialize the pipeline "
        "again where it was built, and load pipelines only from sources you trust."
    )
    E217 = (
        "Cannot write the elmo component's file '{path}': {error}. Check that its folder is "
        "writable, has room for the file, and that '{path}' is not a folder; nothing was "
        "changed at that path."
    )

    # E218-E219, E225-E227: training the biLM inside `spacy train` (docs/fine-tuning.md)
    E218 = (
        'trainable_layers={value!r} is not a choice of biLM layers to train. Use "none" '
        '(default: the biLM stays frozen), "top" (its top LSTM layer), an integer N (its top '
        'N LSTM layers) or "all" (the char CNN and every LSTM layer), in '
        "[components.elmo.model]."
    )
    E219 = (
        "trainable_layers={value!r} asks for more LSTM layers than this biLM has ({n_layers}). "
        'Use a number from 1 to {n_layers}, "top", or "all" (the char CNN and every LSTM '
        "layer), in [components.elmo.model]."
    )
    E225 = (
        'trainable_layers={value!r} cannot be used with state="stateful": a stateful biLM '
        "carries its LSTM state from one batch to the next, so a batch's gradients would reach "
        'back into batches already updated. Use state="warm" (default) or "zero" to '
        'train the biLM, or trainable_layers="none" to keep the stateful biLM frozen.'
    )
    E226 = (
        "trainable_layers={value!r} cannot be used with precision={precision!r}: the biLM is "
        "trained in float32 (a reduced precision is loaded lean, without float32 weights, and "
        'its products have no gradients). Set precision="float32" in [components.elmo.model] '
        'to train the biLM, or trainable_layers="none" to keep it frozen at {precision}.'
    )
    E227 = (
        "The biLM of this elmo model is trained (trainable_layers={value!r}), but its weights "
        "are held lean in {precision} and cannot receive gradients. Load the biLM with "
        'precision="float32" to train it.'
    )

    # --- E251-E269: init-config and learned mixes ------------------------------------------
    E251 = (
        "init-config cannot give ELMo to {names}: supported components are {supported}. "
        "Leave the others out of -p and add them afterwards (docs/init-config.md shows how a "
        "config is converted by hand), or use spaCy's own `spacy init config` for them."
    )
    E252 = (
        "init-config needs at least one trainable component to feed with ELMo (-p), e.g. "
        "-p ner,tagger. Supported: {supported}."
    )
    E253 = "Unknown --optimize value {value!r}. Use one of: {options}."
    E254 = "The pipeline {pipeline} names a component twice. Name each component once."
    E255 = (
        "The output config '{path}' already exists. Pass --force to overwrite it, or choose "
        "another path."
    )
    E256 = (
        "'{path}' is not a spaCy pipeline directory ({error}). Pass the output of "
        "`spacy train` (e.g. training/model-last) or of nlp.to_disk."
    )
    E257 = (
        "The pipeline in '{path}' has no component with a learned ELMo mix "
        "(spacy-elmo.ScalarMix.v1) in its model. Train it with a config from "
        "`python -m spacy_elmo init-config`, or one that uses spacy-elmo.ElmoTok2Vec.v1."
    )

    # --- E601-E619: benchmark, data conversion, packaging (docs) ----------------------
    E601 = "Unknown interleave {value!r}. Use 'batch' (alternate every batch) or 'pass'."
    E602 = (
        "Cannot benchmark on device {device!r}: {error}. Use --device cpu, or --device cuda "
        "(cuda:N) on a machine with a CUDA GPU and a CUDA build of torch."
    )
    E603 = (
        "{path} looks like a {detected} file (line {line}: {example!r}), not {file_type}. "
        "Pass -t {detected} (file_type={detected!r}), or fix the file."
    )
    E604 = (
        "Cannot tell the format of {path}: {reason}. Pass -t conll (one 'token ... tag' per "
        "line, blank lines between sentences) or -t tsv (one 'label TAB text' per line)."
    )
    E605 = (
        "--layouts {value!r}: {reason}. Give a comma list of PROCESSESxTHREADS, each at least "
        "1x1, e.g. --layouts 1x1,1x2,2x1."
    )
    E606 = (
        "--steps {steps} gives fewer than two log lines at --log-every {log_every}; the "
        "throughput is timed between them. Use --steps of at least {minimum}."
    )
    E607 = (
        "`python -m spacy_elmo bench` runs the benchmarks of a source checkout, and none was "
        "found ({reason}): they are not part of the installed package. Clone the source "
        "repository (git clone <repository URL> spacy-elmo && cd spacy-elmo && pip install "
        "-e .), then run `python -m benchmarks` (or `python -m spacy_elmo bench`) from its "
        "root."
    )

    # --- E3xx: pretraining ---------------------------------------------------------------
    E302 = (
        "The training corpus has no tokens: {details}. Pass UTF-8 text files with one "
        "sentence (or paragraph) per line."
    )
    E303 = (
        "'{path}' looks like a binary file ({share:.0%} of its first {n} bytes are control "
        "or NUL bytes), not text. Remove it from the corpus, or convert it to UTF-8 text."
    )
    E304 = (
        "The run directory '{path}' holds a checkpoint of a different run ({key}: "
        "{found!r} in the checkpoint, {expected!r} now). Resume with the same config, or "
        "use a new output directory."
    )
    E305 = (
        "--init-weights '{path}' must hold options.json and weights.hdf5 (missing: "
        "{missing}). Pass the directory of a biLM exported by this package or bilm-tf."
    )
    E306 = (
        "The {what} has {n_tokens} tokens, too few for {n_rows} batch rows of {unroll} "
        "steps (at least {needed} needed). Use a smaller batch_size or unroll_steps, or more "
        "text."
    )
    E307 = (
        "No checkpoint found in '{path}'. Pass the output directory of a pretraining run "
        "that has written at least one checkpoint."
    )
    E308 = "Unknown settings in {where}: {keys}. Known: {known}."
    E309 = "'{path}' is not a valid JSON pretraining config ({error})."
    E311 = (
        "Cannot resume '{path}' with {found} processes: it was started with {expected}. "
        "Resume with the same --nproc_per_node (each process owns its batch rows and LSTM "
        "states)."
    )
    E312 = (
        "Cannot read checkpoint '{path}': {error}. An older complete checkpoint of the run, "
        "if there is one, is used instead (warning W035)."
    )

    # --- E313-E349: pretraining (numerics, checkpoints, disk, model size) ---------------
    E313 = (
        "The training {what} is {value} at step {step} (learning rate {lr}): training diverged "
        "and is stopped; no checkpoint was written after step {last_checkpoint}. Re-run with "
        "a lower optimizer.lr (or a longer optimizer.warmup_steps, or optimizer.clip_norm) "
        "in a new output directory, or resume the old one after fixing the setting."
    )
    E314 = (
        "'{path}' holds pickled Python objects other than tensors and plain data ({error}). "
        "Loading it could run code, so it is refused. Use files written by spacy-elmo "
        "(`pretrain`, `pretrain-export`) from a source you trust."
    )
    E315 = (
        "The run's checkpoint folder '{path}' has no checkpoint that can be loaded "
        "({details}). Copy an intact checkpoint back, or start over in a new output "
        "directory (or delete '{path}' to restart this run from step 0)."
    )
    E316 = (
        "No space left on the device while writing '{path}': the folder '{folder}' is full "
        "({free} bytes free; {error}). Files written before are intact (the newest complete "
        "checkpoint is unchanged). Free space there and re-run the same command to resume."
    )
    E317 = (
        "The {what} would have {n:,} parameters (limit {limit:,}): {details}. Check the "
        "model settings (lstm.dim, lstm.n_layers, char_cnn.filters, data.vocab_size) for a "
        "typo; pretraining models of this size is not supported."
    )
    E318 = (
        "Cannot use the training-state folder entry '{path}': {error}. The folder must be "
        "written by `pretrain-pack` and copied whole (its SHA256SUMS lists every file)."
    )
    E319 = (
        "'{path}' is not a SHA256SUMS file as `pretrain-pack` writes it: {error}. Each line "
        "must be a SHA-256 digest (64 hex digits), two spaces and the name of a file in the "
        "folder (letters, digits, '.', '_', '-'; no folders, not starting with '.'), each name "
        "once. Copy SHA256SUMS again from the packed folder, or pack the run again."
    )
    E320 = (
        "'{path}' is a symbolic link to '{target}', outside the training-state folder "
        "'{folder}'. Unpacking reads only files inside the folder, so it is refused. Copy the "
        "folder with its links replaced by the files they point to (`cp -rL`; for a Hugging "
        "Face snapshot, download it with local_dir=...)."
    )
    E321 = (
        "The training-state folder '{folder}' lists '{name}' in SHA256SUMS, but {problem}. "
        "Copy the whole folder written by `pretrain-pack` again (every file SHA256SUMS lists)."
    )
    E322 = (
        "The tensor shards of the training-state folder '{folder}' do not agree: {details}. "
        "Every shard must be named in state.json and listed with its SHA-256 in SHA256SUMS; "
        "the folder was edited or mixed from two packs. Copy it whole again, or pack the run "
        "again."
    )
    E323 = (
        "'{path}' is not a training state that `pretrain-pack` wrote ({error}). Copy state.json "
        "again from the packed folder, or pack the run again with this version of spacy-elmo."
    )
    E324 = (
        "The tensor shard '{path}' cannot be read ({error}), although its SHA-256 matches "
        "SHA256SUMS: it was damaged before the sums were written, or both were changed. Pack "
        "the run again from its checkpoints."
    )
    E325 = (
        "'{path}' refers to the tensor '{name}', which {problem}. state.json and the tensor "
        "shards come from different packs: copy the whole folder again, or pack the run again."
    )
    E326 = (
        "SHA256SUMS of the training-state folder '{folder}' does not list '{name}', which "
        "unpacking reads, so the file cannot be verified. Copy the whole folder written by "
        "`pretrain-pack` again, or pack the run again."
    )

    # --- E327-E339: adapting a trained biLM to a domain (``adapt``) -----------------------
    E327 = (
        "BASE '{base}' is not a biLM that `adapt` can start from: {problem}. Pass a model name "
        "(`python -m spacy_elmo models` lists them), a folder holding options.json and "
        "weights.hdf5, an options.json together with --weight-file (paths, http(s):// URLs or "
        "hf://OWNER/REPO[@REV]/PATH), or hf://OWNER/REPO[@REV][/FOLDER]."
    )
    E328 = (
        "`adapt` needs domain text: {problem}. Pass one or more --train files (UTF-8 text, one "
        "sentence or paragraph per line; add --pretokenized if tokens are separated by spaces)."
    )
    E329 = (
        "OUTPUT_DIR '{path}' holds an adaptation of a different {what} ({found} there, "
        "{expected} now). Re-run with the same BASE and domain files to resume it, or pass a "
        "new OUTPUT_DIR."
    )
    E330 = (
        "OUTPUT_DIR '{path}' cannot hold an adaptation: {problem}. Pass a new or empty folder, "
        "or the OUTPUT_DIR of an earlier `adapt` run to resume it."
    )
    E331 = (
        "The `adapt` config sets {key}={value!r}, which `adapt` decides itself: {why}. Remove "
        "it from the config or the command line."
    )
    E332 = (
        "Unexpected argument {arg!r}: extra arguments are settings, `--section.key value` or "
        "`section.key=value`. To pass several files, repeat the option for each: "
        "`--train a.txt --train b.txt` (likewise --dev)."
    )

    # --- E401-E449: model catalogue, locations, downloads and the cache -----------------
    E401 = (
        "Unknown biLM name {name!r}.{close} Known names: {names}. Run `python -m spacy_elmo "
        "models` for the table, or pass options_file and weight_file (paths or URLs)."
    )
    E402 = (
        "Pass either a model name or both options_file and weight_file, not {given}. "
        "Example: name='original', or options_file='.../options.json' and "
        "weight_file='.../weights.hdf5'."
    )
    E403 = (
        "Cannot read the location {value!r}: {why}. Use a local path, an http(s):// URL or "
        "hf://OWNER/REPO[@REVISION]/PATH."
    )
    E404 = (
        "HTTP {status} for {url}: {why}. Check the URL (and access rights); a catalogue "
        "model may have moved: try its mirror or pass the files by path."
    )
    E405 = (
        "The server answered HTTP {status} for {url} {tries} times in a row. Try again later "
        "or use a mirror; a partial download is kept and resumes on the next try."
    )
    E406 = (
        "Could not reach {url} after {tries} tries ({error}). Check the network or proxy "
        "settings; with no network, copy the cache from a connected machine (docs/models.md) "
        "and set SPACY_ELMO_OFFLINE=1."
    )
    E407 = (
        "The transfer of {url} was cut {tries} times (last: {got} of {expected} bytes). "
        "Run the same command again: it resumes from the {got} bytes kept in the cache."
    )
    E408 = (
        "{url} did not send an HDF5 file (the content starts with {head!r}{html}). Nothing was "
        "kept. Check that the URL points at the weights file itself, not at a web page."
    )
    E409 = (
        "{url} did not send a JSON options file ({error}; the content starts with {head!r}). "
        "Nothing was kept. Check that the URL points at options.json itself."
    )
    E410 = (
        "Checksum mismatch for {url}: sha256 {found}, expected {expected}. The file was "
        "deleted; fetch it again, and report it if it repeats (the file may have changed)."
    )
    E411 = (
        "The cache folder '{path}' is not writable ({error}). Set SPACY_ELMO_CACHE to a "
        "writable folder, or fix the folder's permissions."
    )
    E412 = (
        "Offline mode ({flag}) and {what} is not in the cache '{cache}'. On a connected "
        "machine run `{command}` with the same SPACY_ELMO_CACHE, then copy that folder here "
        "(docs/models.md), or unset {flag}."
    )
    E413 = (
        "The Hugging Face Hub has no {what} for {location} ({error}). Check the repository "
        "name, the revision and the file path."
    )
    E414 = (
        "--init-weights {value!r}: a folder cannot be fetched from a plain http(s) URL. Pass "
        "a local folder, or an hf://OWNER/REPO[@REVISION][/FOLDER] holding options.json and "
        "weights.hdf5."
    )
    E415 = (
        "Fetching {what} needs the optional package(s) {packages}. Install them with "
        "`pip install 'spacy-elmo[hub]'`."
    )
    E416 = (
        "{url} sent more bytes than announced ({got} > {expected}). Nothing was kept; the "
        "server or a proxy altered the file."
    )
    E417 = (
        "SPACY_ELMO_DOWNLOAD_TIMEOUT={value!r} is not a positive number of seconds. Set it to "
        "e.g. 30 (the read timeout and the stall window of downloads), or unset it."
    )
    E418 = (
        "{url} did not send this model's weights ({error}). Nothing was kept. Check that the "
        "URL points at the weights.hdf5 published with these options, and fetch it again."
    )
    E419 = (
        "{url} sent the file compressed (Content-Encoding: {encoding}) although none was "
        "asked for. Nothing was kept. Use a URL that serves the file itself (a proxy may be "
        "re-encoding it)."
    )
    E420 = (
        "{url} sends more than a {kind} file can be ({got} bytes, at most {limit}). The "
        "transfer was stopped and nothing was kept. Check that the URL points at the right "
        "file and that options.json belongs to it."
    )
    E421 = (
        "The transfer of {url} stalled {tries} times (fewer than {min_bytes} bytes in "
        "{window:g} s; last: {got} bytes received). Try again on a better connection, or "
        "raise SPACY_ELMO_DOWNLOAD_TIMEOUT (seconds) for a slow one."
    )
    E422 = (
        "{url} redirects in a loop or through too many hops ({error}). Nothing was "
        "fetched. Check the URL in a browser, or use the file's final address."
    )
    E423 = (
        "{url} redirected to a location that cannot be downloaded ({error}). Only http(s) "
        "redirects are followed; nothing was fetched. Use the file's own http(s) address."
    )
    E424 = (
        "The Hugging Face Hub at {endpoint} gave an invalid answer for {location} ({error}). "
        "Nothing was kept. Check HF_ENDPOINT (a mirror may be misconfigured or hostile), or "
        "unset it to use huggingface.co."
    )
    E425 = (
        "Could not fetch the model '{name}' from any of its {n} places: {failures}. Check "
        "the network or proxy settings; with no network, copy the cache from a connected "
        "machine (docs/models.md) and set SPACY_ELMO_OFFLINE=1."
    )

    # --- E430-E439: model archives (NLPL zip files) ----------------------------------------
    E430 = (
        "The archive '{path}' holds a member that cannot be unpacked safely: {member!r} "
        "({reason}). Nothing was unpacked. Archives are unpacked only into the cache, with "
        "relative paths and plain files; download the model from its repository again, or "
        "unpack it yourself and load the folder."
    )
    E431 = (
        "The archive '{path}' would unpack to {size:,} bytes in {count:,} files, more than "
        "the {limit:,} bytes / {max_files:,} files allowed for a model. Nothing was "
        "unpacked. The file is not a model archive (or is a zip bomb); check its source."
    )
    E432 = (
        "'{path}' is not a readable zip archive ({error}). A damaged download is removed; "
        "fetch it again (python -m spacy_elmo download NAME)."
    )
    E433 = (
        "The archive '{path}' holds no ELMo model: neither options.json with an .hdf5 "
        "weights file (bilm-tf / NLPL) nor config.json with encoder.pkl (ELMoForManyLangs). "
        "Found: {found}. Check that the catalogue entry points to an ELMo model."
    )

    # --- E501-E549: corpus embedding (``embed``) -----------------------------------------
    E501 = (
        "Line {line} of {source} is not valid {encoding} ({error}). Re-encode the file as "
        "UTF-8 (e.g. `iconv -f latin1 -t utf-8 IN > OUT`), or pass its real encoding with "
        "--encoding (e.g. --encoding latin-1)."
    )
    E502 = (
        "The output '{path}' already exists and is a complete result. Pass --overwrite to "
        "replace it (overwrite=True in Python), or choose another output file."
    )
    E503 = (
        "The output '{path}' is the {what} ('{other}'): writing it would destroy that file. "
        "Choose another output file."
    )
    E504 = (
        "The output folder '{path}' does not exist. Create it first (mkdir -p '{path}') or "
        "choose an output file in an existing folder."
    )
    E505 = "Cannot write the output '{path}': {reason}. Choose a writable output file."
    E506 = (
        "'{path}' holds an unfinished run with other settings ({differences}). Re-run with "
        "the same input, model and options to continue it, or pass --overwrite to discard it "
        "and start over."
    )
    E507 = (
        "Lines {first}-{last} of the input differ from the ones the unfinished run in "
        "'{path}' embedded: the input has changed. Restore the input, or pass --overwrite to "
        "discard the unfinished run and start over."
    )
    E508 = (
        "{what} cannot be split over {world_size} processes. Run it in one process (without "
        "torchrun, or with --nproc_per_node 1)."
    )
    E509 = (
        "--device {device} was requested, but {reason}. Use --device cpu, or run on a "
        "machine with a CUDA GPU and a CUDA build of torch."
    )
    E510 = (
        "Unusable encoding {value!r}. Use a Python codec that writes newlines as ASCII, "
        "such as utf-8 (default), latin-1 or cp1252; convert UTF-16/32 files to UTF-8 first."
    )
    E511 = (
        "'{path}' is not a readable unfinished run ({error}). Delete it, or pass --overwrite "
        "to discard it and start over."
    )
    E512 = (
        "Another embed run is writing '{path}' (it holds the lock '{lock}'). Wait until it "
        "has finished, or choose another output file. (The processes of one torchrun launch "
        "share their output and do not take this lock.)"
    )
    E513 = (
        "'{path}', where this run keeps its unfinished work, disappeared while it ran "
        "({error}): it or the output folder was deleted or moved. The output was not "
        "written. Re-running the command starts again from the first line (create the "
        "output folder again first if it is gone)."
    )
    E514 = (
        "The input '{path}' is {what}, not a text file. Pass a text file, '-' for standard "
        "input, or a pipe such as <(zcat corpus.txt.gz)."
    )
    E515 = (
        "Line {line} of {source} contains a NUL character (U+0000), which an HDF5 dataset "
        "name cannot hold, so --use-sentence-keys cannot key it. Remove the NUL characters "
        "(e.g. tr -d '\\000'), or leave out --use-sentence-keys (line-index keys and "
        "sentence_to_index store such lines unchanged)."
    )
    E516 = (
        "save_seconds must be a positive number of seconds, not {value!r}: it is how often "
        "embed saves its unfinished work (--save-seconds, default 30)."
    )
