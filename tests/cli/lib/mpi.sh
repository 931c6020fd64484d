# Shared by the MPI tests (tensor_parallel.sh, pipeline_parallel.sh); source after fail()
# is defined. Fails when Open MPI is missing (scripts/install-deps.sh installs it).
command -v mpirun > /dev/null || fail "mpirun not found: scripts/install-deps.sh installs Open MPI (openmpi-bin)"

# mpi NP CMD...: CMD on NP ranks of this machine.
mpi() { local np=$1; shift; mpirun --oversubscribe --allow-run-as-root -np "$np" "$@"; }

# ids_of WGLD IDS: a golden logits file's token ids into IDS, its kept positions into IDS.keep.
ids_of() {
  python3 - "$1" "$2" <<'PY'
import struct, sys
b = open(sys.argv[1], 'rb').read()
_, _, nv, nt, nk = struct.unpack_from('<5I', b, 0)
toks = struct.unpack_from('<%dI' % nt, b, 20)
keep = struct.unpack_from('<%dI' % nk, b, 20 + 4 * nt)
open(sys.argv[2], 'w').write(' '.join(map(str, toks)) + '\n')
open(sys.argv[2] + '.keep', 'w').write(' '.join(map(str, keep)))
PY
}
