//! The lamina binary: command line, configuration, chain spec, and the typed assembly of a node from parts.

#[global_allocator]
static ALLOCATOR: lamina_alloc::Allocator = lamina_alloc::Allocator;

fn main() -> anyhow::Result<()> {
    lamina_alloc::tune();
    lamina_node::Chain::default().run()
}
