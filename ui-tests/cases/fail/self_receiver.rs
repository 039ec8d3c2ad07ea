use durable::prelude::*;

struct Service;

impl Service {
    #[workflow]
    async fn method(&self, ctx: Ctx) -> Result<(), Error> {
        let _ = ctx;
        Ok(())
    }
}

fn main() {}
