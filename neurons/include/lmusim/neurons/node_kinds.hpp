#pragma once
// The registered node kinds (neurons/kind.hpp). To add a kind: write its two files under
// neurons/include/lmusim/neurons/kinds/ and neurons/src/kinds/, then add it here (the include and
// one entry of the list). Everything else (validation, network files, populations, counting,
// names in messages and Python) follows from the list. The order is the variant's order only;
// files name kinds by their name, never by position.
#include <string_view>
#include <vector>

#include "lmusim/neurons/kind.hpp"
#include "lmusim/neurons/kinds/analog.hpp"
#include "lmusim/neurons/kinds/continuous_lif.hpp"
#include "lmusim/neurons/kinds/discrete_lif.hpp"
#include "lmusim/neurons/kinds/input.hpp"
#include "lmusim/neurons/kinds/leaky.hpp"
#include "lmusim/neurons/kinds/lmu_memory.hpp"
#include "lmusim/neurons/kinds/nir_cuba_li.hpp"
#include "lmusim/neurons/kinds/nir_cuba_lif.hpp"
#include "lmusim/neurons/kinds/nir_delay.hpp"
#include "lmusim/neurons/kinds/nir_if.hpp"
#include "lmusim/neurons/kinds/nir_integrator.hpp"
#include "lmusim/neurons/kinds/nir_li.hpp"
#include "lmusim/neurons/kinds/nir_lif.hpp"
#include "lmusim/neurons/kinds/readout.hpp"
#include "lmusim/neurons/kinds/spike_count.hpp"
#include "lmusim/neurons/kinds/spike_input.hpp"
#include "lmusim/neurons/kinds/spike_source.hpp"
#include "lmusim/neurons/kinds/synaptic.hpp"
#include "lmusim/neurons/kinds/threshold.hpp"

namespace lmusim {

using node_kinds = node_kind_list<
    discrete_lif_params,
    continuous_lif_params,
    spike_source_params,
    input_params,
    analog_params,
    lmu_memory_params,
    readout_params,
    leaky_params,
    synaptic_params,
    spike_input_params,
    spike_count_params,
    nir_lif_params,
    nir_li_params,
    nir_cuba_lif_params,
    nir_cuba_li_params,
    nir_if_params,
    nir_integrator_params,
    threshold_params,
    nir_delay_params>;

using node_params = node_kinds::variant;

// Default parameters of the kind named `name`; an unknown name is an lmusim::error that lists
// the registered kinds.
node_params default_node_params(std::string_view name);

// The name of the kind held.
std::string_view kind_name(const node_params& p) noexcept;

// The names of every registered kind, in list order.
std::vector<std::string_view> registered_node_kind_names();

}  // namespace lmusim
