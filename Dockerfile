# Multi-stage build for Cairn. No Docker engine runs on the development machines, so this file
# is checked by reading, not by building; keep it simple.
FROM rust:1-slim-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev pkg-config make && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin cairn

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/cairn --create-home cairn
COPY --from=build /src/target/release/cairn /usr/local/bin/cairn
COPY --from=build /src/catalog-examples /opt/cairn/catalog-examples
COPY --from=build /src/scorecards /opt/cairn/scorecards
COPY --from=build /src/templates /opt/cairn/templates
COPY --from=build /src/policies /opt/cairn/policies
COPY --from=build /src/app-config.yaml /opt/cairn/app-config.yaml
WORKDIR /opt/cairn
USER cairn
VOLUME ["/var/lib/cairn"]
EXPOSE 7007
ENV CAIRN_BACKEND__LISTEN__HOST=0.0.0.0 \
    CAIRN_BACKEND__DATABASE__CONNECTION=/var/lib/cairn/catalog.sqlite
ENTRYPOINT ["/usr/local/bin/cairn"]
CMD ["serve"]
