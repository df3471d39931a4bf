#pragma once
// Compressed weights (docs/weights.md): rounds every synaptic weight of a network to what a
// format holds, keeping them as floats, so delivery and every count stay as they are.
//   - projections: the weights each kind lists (synapses/kind.hpp, synaptic_weights), one int8
//     scale per output channel (target neuron, or output feature map of a conv2d);
//   - nodes with a synaptic layer of their own (the readout's linear layer), per output row.
// Not rounded: biases, affines (BatchNorm), neuron parameters, and the LMU memory node's A, B
// and H (a real-valued state space, not synapses).
#include "lmusim/graph/network.hpp"

namespace lmusim {

// Validates the network, then rounds its weights to `f` and sets net.weights. fp32 leaves the
// network untouched; asking again for the format a network already has changes nothing; any
// other change of a compressed network is an error (its fp32 weights are gone).
void compress_weights(network& net, weight_format f);

}  // namespace lmusim
