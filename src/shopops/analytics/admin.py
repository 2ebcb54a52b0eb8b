"""数据中心 in the back office: collection sites, platform traffic, ad spend, subscriptions and report pages."""
