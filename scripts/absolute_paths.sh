# Sourced by build_book.sh and test.sh before they change directory: settings given as relative paths
# are taken from the caller's directory, and made absolute because papermill and nbval run each
# notebook inside book/executed/.
for var in COALA_DATA_DIR COALA_CACHE_DIR COALA_RESULTS_DIR; do
  if [ -n "${!var:-}" ]; then
    export "$var=$(realpath -m -- "${!var}")"
  fi
done
