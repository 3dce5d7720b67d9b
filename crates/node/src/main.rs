//! The lamina binary: command line, configuration, chain spec, and the typed assembly of a node from parts.

#[global_allocator]
static ALLOCATOR: lamina_node::Allocator = lamina_node::Allocator;

fn main() -> anyhow::Result<()> {
    lamina_node::Chain::default().run()
}
